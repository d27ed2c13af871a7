"""Example Flyte workflows whose tasks run on MMCloud (task type ``mmcloud_task``)."""

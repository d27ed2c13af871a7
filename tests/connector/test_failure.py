from connector.failure import LINE_CHARS, TAIL_LINES, failure_details, last_exception

FLYTEKIT_STDERR = (
    '{"asctime": "t", "name": "flytekit", "levelname": "ERROR", "message": "Trace:\\n\\n'
    '    Traceback (most recent call last):\\n      File \\"w.py\\", line 64, in f\\n'
    "    ValueError: divisor must be non-zero, got divisor=0.\\n\\nMessage:\\n\\n"
    '    ValueError: divisor must be non-zero, got divisor=0."}\n'
    '{"asctime": "t", "name": "flytekit", "levelname": "ERROR", "message": "!! End Error !!"}\n'
)


def test_finds_the_exception_in_flytekits_json_logs() -> None:
    assert last_exception(FLYTEKIT_STDERR) == "ValueError: divisor must be non-zero, got divisor=0."


def test_finds_a_plain_traceback_exception() -> None:
    text = "Traceback (most recent call last):\n  File x\nKeyError: 'missing'\n"
    assert last_exception(text) == "KeyError: 'missing'"
    assert last_exception("just some output\n") is None


def test_details_lead_with_the_exception_and_clip_the_tail() -> None:
    noisy = "\n".join(f"line {i} " + "x" * 1000 for i in range(20))
    details = failure_details(noisy + "\nRuntimeError: boom\n")
    lines = details.splitlines()
    assert lines[0] == "RuntimeError: boom"
    assert lines[1] == "last lines of stderr:"
    assert len(lines) == 2 + TAIL_LINES
    assert all(len(line) <= LINE_CHARS + 2 for line in lines[2:])
    assert lines[-1] == "  RuntimeError: boom"


def test_empty_stderr_gives_no_details() -> None:
    assert failure_details("") == ""
    assert failure_details("\n \n") == ""

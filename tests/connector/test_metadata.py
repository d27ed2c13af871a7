import pytest
from flytekitplugins.mmcloud.connector import MMCloudMetadata as UpstreamMetadata

from connector.errors import InvalidArgument
from connector.metadata import MMCloudMetadata

JOB_ID = "abcdefghij0123456789K"


def test_encodes_exactly_the_upstream_bytes() -> None:
    assert MMCloudMetadata(JOB_ID).encode() == UpstreamMetadata(job_id=JOB_ID).encode()
    assert MMCloudMetadata(JOB_ID).encode() == b'{"job_id": "' + JOB_ID.encode() + b'"}'


def test_decodes_upstream_bytes_and_round_trips() -> None:
    upstream = UpstreamMetadata(job_id=JOB_ID).encode()
    assert MMCloudMetadata.decode(upstream) == MMCloudMetadata(JOB_ID)
    assert UpstreamMetadata.decode(MMCloudMetadata(JOB_ID).encode()).job_id == JOB_ID


def test_tolerates_unknown_keys() -> None:
    data = b'{"job_id": "%s", "added_later": {"x": 1}}' % JOB_ID.encode()
    assert MMCloudMetadata.decode(data).job_id == JOB_ID


@pytest.mark.parametrize(
    "job_id",
    ["", "short", "abcdefghij0123456789K/", "../../../../etc/passwd", "abcdefghij 123456789K", 42],
)
def test_rejects_ids_that_are_not_opcenter_shaped(job_id: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        MMCloudMetadata(job_id)  # type: ignore[arg-type]
    assert "resource_meta.job_id" in str(err.value)


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b'{"id": "x"}', b"\xff\xfe"])
def test_decode_errors_name_the_field(data: bytes) -> None:
    with pytest.raises(InvalidArgument) as err:
        MMCloudMetadata.decode(data)
    assert err.value.field == "resource_meta"

import pytest
from flyteidl.admin import agent_pb2

from connector.errors import InvalidArgument
from connector.logs import MAX_LINE_CHARS, MAX_RESPONSE_BYTES, Cursor, log_responses

OUT, ERR = "stdout.autosave", "stderr.autosave"


def user_lines(responses: list[agent_pb2.GetTaskLogsResponse]) -> list[str]:
    return [
        line.message
        for r in responses[1:]
        for line in r.body.structured_lines
        if line.originator == agent_pb2.USER
    ]


def test_all_lines_then_a_token_that_sees_only_new_ones() -> None:
    files = {OUT: b"a\nb\n", ERR: b"x\n"}
    first = log_responses(files, lines=0, token="", finished=False)
    assert user_lines(first) == ["a", "b", "x"]
    files = {OUT: b"a\nb\nc\n", ERR: b"x\ny\n"}
    again = log_responses(files, lines=0, token=first[0].header.token, finished=False)
    assert user_lines(again) == ["c", "y"]


def test_a_growing_last_line_waits_until_the_job_finishes() -> None:
    running = log_responses({OUT: b"done\npart"}, lines=0, token="", finished=False)
    assert user_lines(running) == ["done"]
    later = log_responses(
        {OUT: b"done\npartial"}, lines=0, token=running[0].header.token, finished=True
    )
    assert user_lines(later) == ["partial"]


def test_lines_is_the_last_n_without_token_and_the_next_n_with_one() -> None:
    files = {OUT: b"".join(b"%d\n" % i for i in range(10))}
    assert user_lines(log_responses(files, lines=3, token="", finished=True)) == ["7", "8", "9"]
    start = Cursor({OUT: 0, ERR: 0}).encode()
    page = log_responses(files, lines=4, token=start, finished=True)
    assert user_lines(page) == ["0", "1", "2", "3"]
    page = log_responses(files, lines=4, token=page[0].header.token, finished=True)
    assert user_lines(page) == ["4", "5", "6", "7"]


def test_output_beyond_the_bound_continues_with_the_token() -> None:
    line = b"y" * 999 + b"\n"
    files = {OUT: line * 3000}  # 3 MB
    seen, token, pages = 0, Cursor({OUT: 0, ERR: 0}).encode(), 0
    while True:
        page = log_responses(files, lines=0, token=token, finished=True)
        size = sum(len(r.SerializeToString()) for r in page)
        assert size < MAX_RESPONSE_BYTES
        got = len(user_lines(page))
        if not got:
            break
        seen, token, pages = seen + got, page[0].header.token, pages + 1
    assert (seen, pages >= 6) == (3000, True)


@pytest.mark.parametrize("token", ["!!!", "e30", "eyJvIjotMSwiZSI6MH0", "bm90IGpzb24"])
def test_malformed_tokens_are_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        log_responses({}, lines=0, token=token, finished=True)
    assert err.value.field == "token"


def test_a_token_past_the_end_of_the_file_is_refused() -> None:
    token = Cursor({OUT: 100, ERR: 0}).encode()
    with pytest.raises(InvalidArgument, match="past the end"):
        log_responses({OUT: b"short\n"}, lines=0, token=token, finished=True)


def test_a_line_larger_than_a_response_is_clipped_and_paging_moves_past_it() -> None:
    files = {OUT: b"x" * 1_200_000 + b"\nafter\n"}
    page = log_responses(files, lines=0, token="", finished=True)
    assert sum(len(r.SerializeToString()) for r in page) < MAX_RESPONSE_BYTES
    huge, after = user_lines(page)
    assert huge.startswith("x" * MAX_LINE_CHARS)
    assert huge.endswith(f"[{1_200_000 - MAX_LINE_CHARS} more characters not shown]")
    assert after == "after"
    rest = log_responses(files, lines=0, token=page[0].header.token, finished=True)
    assert user_lines(rest) == []

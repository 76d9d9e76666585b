"""minicnn.progress: tqdm when drawn live, a text bar without tqdm, one line when quiet."""
from __future__ import annotations

import io

import pytest

import minicnn.progress as progress_mod
from minicnn.progress import format_count, format_seconds, progress


class FakeTerminal(io.StringIO):
    """A text stream that claims to be an interactive terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _not_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)


def test_not_a_terminal_prints_one_summary_line_at_close():
    out = io.StringIO()
    with progress(total=10, desc="epoch 1", unit="batch", file=out) as bar:
        for _ in range(10):
            bar.update(1)
        bar.set_postfix(loss=0.123456)
        assert out.getvalue() == ""                                  # nothing while running
    text = out.getvalue()
    assert bar.mode == "summary" and text.count("\n") == 1
    assert text.startswith("epoch 1: 100%|") and "10/10batch" in text and "loss=0.1235" in text


def test_ci_variable_silences_the_live_bar_even_on_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    bar = progress(total=3, file=FakeTerminal())
    assert bar.mode == "summary"


def test_text_bar_on_a_terminal_without_tqdm(monkeypatch):
    monkeypatch.setattr(progress_mod, "_load_tqdm", lambda: None)
    out = FakeTerminal()
    bar = progress(total=4, desc="d", file=out)
    assert bar.mode == "text"
    bar.update(4)                                                    # first update draws
    bar.close()
    text = out.getvalue()
    assert text.startswith("\rd: 100%|" + "#" * 25 + "| 4/4it") and text.endswith("\n")


def test_tqdm_is_used_on_a_terminal_when_installed():
    pytest.importorskip("tqdm")
    out = FakeTerminal()
    with progress(total=5, desc="dl", unit="B", unit_scale=True, file=out) as bar:
        bar.update(5)
    assert bar.mode == "tqdm" and "dl" in out.getvalue() and "100%" in out.getvalue()


def test_wrapping_an_iterable_yields_items_and_counts_them():
    out = io.StringIO()
    bar = progress(["a", "b", "c"], desc="it", file=out)
    assert bar.total == 3 and len(bar) == 3
    assert list(bar) == ["a", "b", "c"]
    assert bar.n == 3 and "3/3it" in out.getvalue()


def test_disable_writes_nothing():
    out = io.StringIO()
    with progress(total=2, file=out, disable=True) as bar:
        bar.update(2)
    assert bar.mode == "off" and out.getvalue() == ""


def test_unknown_total_shows_count_and_rate():
    bar = progress(desc="x", file=io.StringIO())
    bar.update(7)
    assert bar.line().startswith("x: 7it [00:00, ")


def test_iterating_without_iterable_is_a_clear_error():
    with pytest.raises(TypeError, match="nothing to iterate"):
        list(progress(total=3, file=io.StringIO()))


@pytest.mark.parametrize("n, scaled, text", [(999, True, "999"), (1234567, True, "1.23M"),
                                             (102400, True, "102k"), (1234567, False, "1234567")])
def test_format_count(n, scaled, text):
    assert format_count(n, scaled) == text


def test_format_seconds():
    assert format_seconds(75.2) == "01:15" and format_seconds(3725) == "1:02:05"

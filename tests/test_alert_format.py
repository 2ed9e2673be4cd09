"""Alert text for Telegram: escaped, and split under 4,096 characters without breaking what parses."""

from __future__ import annotations

import re

from hoox_edge.alerts.format import render, split

ENTITY_CUT = re.compile(r"&(?!(amp|lt|gt);)")


def test_a_plain_alert_is_escaped_under_its_header() -> None:
    assert render("Stop <hit> on BTC & ETH > 5%", level="critical", source="agent-<w>", parse_mode=None) == (
        ["<b>[CRITICAL]</b> agent-&lt;w&gt;\nStop &lt;hit&gt; on BTC &amp; ETH &gt; 5%"], "HTML")


def test_a_callers_formatted_text_is_sent_as_written() -> None:
    assert render("*bold* _x_", level="info", source="s", parse_mode="MarkdownV2") == (["*bold* _x_"], "MarkdownV2")


def test_long_text_is_cut_at_line_breaks_and_loses_nothing() -> None:
    lines = [f"line {n}: <b>BTC</b> &amp; ETH" for n in range(600)]
    text = "\n".join(lines)
    parts = split(text, html=True)
    assert len(parts) == 5 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text  # every cut was a line break, and only the break is gone
    assert all(len(p) >= 2048 for p in parts[:-1])


def test_a_single_over_long_line_is_cut_hard_but_never_inside_an_entity() -> None:
    [*parts] = split("&amp;" * 2000, html=True)
    assert [len(p) for p in parts] == [4095, 4095, 1810]  # 819 entities fit; the 820th would be cut
    assert not any(ENTITY_CUT.search(p) or p.endswith("&") for p in parts)
    assert "".join(parts) == "&amp;" * 2000


def test_a_tag_open_at_a_cut_is_closed_and_reopened() -> None:
    parts = split('<a href="https://x.test/r">' + "y" * 9000 + "</a>", html=True)
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert all(p.startswith('<a href="https://x.test/r">') and p.endswith("</a>") for p in parts)
    assert sum(p.count("y") for p in parts) == 9000


def test_length_counts_as_telegram_does() -> None:
    parts = split("😀" * 3000, html=False)  # an emoji outside the BMP is 2 UTF-16 units
    assert [len(p) for p in parts] == [2048, 952]
    assert split("short", html=False) == ["short"]

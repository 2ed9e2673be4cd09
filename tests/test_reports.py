"""P&L reports (report-worker, hoox_edge.reports): figures from a known ledger, the PDF as headless
Chromium prints it (read back with pdftotext/pdftoppm), R2 and Telegram's sendDocument against the loopback
Bot API, the text fallback without a renderer, the 30-day sweep and the cron.

The ledger's expected figures are computed here from the rows themselves, not copied from the code."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import cli_support
import pytest
from cli_support import as_json
from conftest import seed_ledgers
from fake_clock import START
from fake_telegram import FakeTelegram, message_update
from hoox_edge import catalog
from hoox_edge.local import cron as cronlib
from hoox_edge.local.runtime import LocalRuntime
from hoox_edge.local.workspace import Workspace
from hoox_edge.reports import document
from hoox_edge.shared import settings

RW = "report-worker"
WORKERS = ["hoox", "trade-worker", "telegram-worker", "d1-worker", RW]
BOT_TOKEN = "7000001:AAH-report-test-token"
CHAT = "424242"
D = Decimal

# (id, mode, action, symbol, exchange, fee, realized_pnl, filled, updated_at). The clock stands at
# 2026-01-05 12:00 UTC: the 24 h report covers [2026-01-04T12:00, 2026-01-05T12:00).
FILLS: list[tuple[str, str, str, str, str, str, str, bool, str]] = [
    ("p0", "paper", "LONG", "BTCUSDT", "bybit", "1.00", "0", True, "2026-01-04T10:00:00.000Z"),  # before
    ("p1", "paper", "LONG", "BTCUSDT", "bybit", "3.30", "0", True, "2026-01-04T13:00:00.000Z"),
    ("p2", "paper", "CLOSE", "BTCUSDT", "bybit", "3.35", "150.00", True, "2026-01-04T18:00:00.000Z"),
    ("p3", "paper", "SHORT", "ETHUSDT", "bybit", "1.65", "0", True, "2026-01-04T20:00:00.000Z"),
    ("p4", "paper", "CLOSE", "ETHUSDT", "bybit", "1.70", "-42.50", True, "2026-01-05T01:00:00.000Z"),
    ("p5", "paper", "LONG", "SOLUSDT", "binance", "0.80", "0", True, "2026-01-05T09:00:00.000Z"),
    ("p6", "paper", "CLOSE", "SOLUSDT", "binance", "0.85", "20.25", True, "2026-01-05T10:00:00.000Z"),
    ("p7", "paper", "LONG", "BTCUSDT", "bybit", "0", "0", False, "2026-01-05T11:00:00.000Z"),  # rejected
    ("l1", "live", "LONG", "ETHUSDT", "bybit", "2.00", "0", True, "2026-01-05T08:00:00.000Z"),
    ("l2", "live", "CLOSE", "ETHUSDT", "bybit", "2.10", "30.00", True, "2026-01-05T09:30:00.000Z"),
]
SINCE, UNTIL = "2026-01-04T12:00:00.000Z", "2026-01-05T12:00:00.000Z"
# poppler-utils, found before a test empties PATH (to hide Chromium)
PDFTOTEXT, PDFTOPPM = shutil.which("pdftotext") or "pdftotext", shutil.which("pdftoppm") or "pdftoppm"


def expected(mode: str) -> dict[str, Any]:
    """The book's figures, worked out from FILLS by the definitions (docs/operator-api.md)."""
    rows = [r for r in FILLS if r[1] == mode and r[7] and SINCE <= r[8] < UNTIL]
    closing = [r for r in rows if r[2] == "CLOSE" or D(r[6]) != 0]
    gross = sum((D(r[6]) for r in rows), D(0))
    fees = sum((D(r[5]) for r in rows), D(0))
    nets = [(r[3], D(r[6]) - D(r[5])) for r in closing]
    equity = peak = worst = D(0)
    for r in rows:
        equity += D(r[6]) - D(r[5])
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    wins = sum(1 for r in closing if D(r[6]) > 0)
    return {"fills": len(rows), "gross": gross, "fees": fees, "net": gross - fees, "wins": wins,
            "closing": len(closing), "winRate": wins / len(closing), "best": max(nets, key=lambda x: x[1]),
            "worst": min(nets, key=lambda x: x[1]), "maxDrawdown": worst}


async def build_ledger(rt: LocalRuntime) -> None:
    db = rt.env("hoox").DB
    for tid, mode, action, symbol, exchange, fee, pnl, filled, at in FILLS:
        side = "SELL" if action in ("SHORT",) or (action == "CLOSE" and symbol != "ETHUSDT") else "BUY"
        await db.prepare(
            "INSERT INTO trades (id, request_id, exchange, symbol, action, side, quantity, price, fee, realized_pnl, "
            "leverage, client_order_id, mode, status, attempts, created_at, updated_at, filled_qty) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,1,?,?,?,1,?,?,?)"
        ).bind(tid, f"rid-{tid}", exchange, symbol, action, side, 1, 100, float(fee), float(pnl), f"hx{tid}", mode,
               "Filled" if filled else "Rejected", at, at, 1 if filled else 0).run()
    # One open paper position, priced by the paper exchange at a pinned mark: (155 - 150) x 10 = +50.
    await db.prepare(
        "INSERT INTO positions (exchange, symbol, side, size, entry_price, leverage, mode, status, request_id, "
        "opened_at, updated_at) VALUES ('binance','SOLUSDT','LONG',10,150,5,'paper','OPEN','rid-pos',?,?)"
    ).bind("2026-01-05T09:00:00.000Z", "2026-01-05T09:00:00.000Z").run()
    await settings.put(rt.env("hoox").CONFIG_KV, "exchanges:paper:price:SOLUSDT", 155.0)


@pytest.fixture
def workspace(workspace: Workspace) -> Workspace:
    """conftest's, with report-worker enabled (it is not by default): the `edge` fixture then runs it."""
    doc = workspace.config()
    doc["workers"]["report-worker"]["enabled"] = True  # type: ignore[index]
    workspace.save_config(doc)
    return workspace


@pytest.fixture
async def rt(clock: Any, workspace: Workspace, migrated_ledgers: list[Path]) -> AsyncIterator[LocalRuntime]:
    runtime = LocalRuntime(seed_ledgers(workspace, migrated_ledgers), workers=WORKERS)
    await runtime.open()
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
def telegram(workspace: Workspace) -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        workspace.set_secret("TELEGRAM_BOT_TOKEN", BOT_TOKEN)
        workspace.set_secret("TELEGRAM_CHAT_ID", CHAT)
        workspace.set_secret("TELEGRAM_API_BASE", fake.url)
        yield fake


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def key(rt: LocalRuntime) -> dict[str, str]:
    return {"X-Internal-Auth-Key": rt.env(RW).INTERNAL_KEY_BINDING}


async def post_report(rt: LocalRuntime, body: Any = None) -> Any:
    return await rt.request(RW, "POST", "/report", json=body if body is not None else {}, headers=key(rt))


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    return subprocess.run([PDFTOTEXT, str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


# =========================================================================== the figures
async def test_document_figures_are_the_ledgers_over_the_period(rt: LocalRuntime) -> None:
    await build_ledger(rt)
    report = await document.build(rt.env(RW), "24h", current_mode="paper")
    assert (report.since, report.until) == (SINCE, UNTIL)
    paper, live = report.books
    for b, mode in ((paper, "paper"), (live, "live")):
        want = expected(mode)
        s = b.stats
        assert s["tradeCount"] == want["fills"]
        assert D(str(s["realizedPnl"])) == want["gross"] and D(str(s["fees"])) == want["fees"]
        assert D(str(s["netRealizedPnl"])) == want["net"]
        assert (s["wins"], s["closingTrades"]) == (want["wins"], want["closing"])
        assert s["winRate"] == pytest.approx(want["winRate"])
        assert D(str(s["maxDrawdown"])) == want["maxDrawdown"]
        assert b.best is not None and b.worst is not None
        assert (b.best.symbol, D(str(b.best.net))) == want["best"]
        assert (b.worst.symbol, D(str(b.worst.net))) == want["worst"]
    # The numbers themselves, for the reader: 6 paper fills in the period (p0 before it, p7 never filled).
    assert expected("paper")["net"] == D("116.10") and expected("paper")["maxDrawdown"] == D("46.65")
    assert [(s.symbol, s.fills, s.closing, s.net) for s in paper.symbols] == [
        ("BTCUSDT", 2, 1, pytest.approx(150 - 3.30 - 3.35)), ("ETHUSDT", 2, 1, pytest.approx(-42.50 - 1.65 - 1.70)),
        ("SOLUSDT", 2, 1, pytest.approx(20.25 - 0.80 - 0.85))]
    assert [(p["symbol"], p["markPrice"], p["unrealizedPnl"]) for p in paper.positions] == [("SOLUSDT", 155.0, 50.0)]
    assert live.positions == [] and live.stats["unrealizedPnl"] == 0
    # The equity curve starts at the period's start: its last point is the net P&L, its drawdown the max.
    assert paper.equity["points"][-1]["equity"] == pytest.approx(116.10)
    assert max(p["drawdown"] for p in paper.equity["points"]) == pytest.approx(46.65)

    html = document.render_html(report)
    for text in ("+116.10", "+127.75", "11.65", "66.7 %", "BTCUSDT +146.65", "ETHUSDT -44.20", "46.65",
                 "+25.90", "100.0 %", "+50.00"):
        assert text in html, text
    assert html.count("<svg") == 4  # equity and drawdown for each book
    assert "src=" not in html and "http" not in html.split("</title>")[1]  # nothing to fetch


async def test_a_book_without_fills_says_so(rt: LocalRuntime) -> None:
    report = await document.build(rt.env(RW), "12h")
    assert all(b.empty for b in report.books)
    assert "No fills in this period and no open positions in this book." in document.render_html(report)
    assert "PAPER book: no fills and no open positions" in document.summary_text(report)


# =========================================================================== the PDF, R2 and Telegram
async def test_report_is_stored_as_html_and_pdf_and_sent_as_a_document(rt: LocalRuntime, telegram: FakeTelegram,
                                                                       tmp_path: Path) -> None:
    assert shutil.which("chromium") and shutil.which("pdftotext"), "CI installs Debian's chromium and poppler-utils"
    await build_ledger(rt)
    r = await post_report(rt, {"period": "24h"})
    assert r.status == 200, r.json()
    res = r.json()["result"]
    name = "daily-pnl-2026-01-05-12"
    assert res["report"]["name"] == name and res["report"]["renderer"] == "chromium"
    assert res["report"]["pdfError"] is None and res["report"]["period"] == "24h"
    assert {k: res["telegram"][k] for k in ("channel", "method", "error")} == {
        "channel": "telegram", "method": "sendDocument", "error": None}
    assert isinstance(res["telegram"]["messageId"], int)
    assert res["books"][0]["netRealizedPnl"] == pytest.approx(116.10)

    bucket = rt.env(RW).REPORTS_BUCKET
    pdf = await bucket.get(f"reports/{name}.pdf")
    html = await bucket.get(f"reports/{name}.html")
    assert pdf is not None and html is not None and pdf.body.startswith(b"%PDF-")
    assert pdf.content_type == "application/pdf"
    text = pdf_text(pdf.body, tmp_path)
    want = expected("paper")
    for figure in (f"+{want['net']:,.2f}", f"+{want['gross']:,.2f}", f"{want['fees']:,.2f}",
                   f"{want['winRate'] * 100:.1f} %", "Net P&L", "Fees", "Win rate", "Per symbol"):
        assert figure in text, (figure, text)
    # pdftoppm renders its pages
    pages = tmp_path / "page"
    subprocess.run([PDFTOPPM, "-r", "30", "-png", str(tmp_path / "report.pdf"), str(pages)], check=True, timeout=60)
    rendered = sorted(tmp_path.glob("page*.png"))
    assert rendered and all(p.stat().st_size > 1000 for p in rendered)

    [sent] = telegram.sent("sendDocument")
    assert sent.token == BOT_TOKEN and sent.body["chat_id"] == CHAT
    filename, content = sent.files["document"]
    assert filename == f"{name}.pdf" and content == pdf.body
    assert "PAPER book (trading now): net P&L +116.10 USDT (gross +127.75, fees 11.65)" in sent.body["caption"]
    assert telegram.sent("sendMessage") == []
    # the log row says what happened, and no secret is in it
    rows = (await rt.env(RW).DB.prepare("SELECT level, message, details FROM system_logs WHERE worker = ?")
            .bind(RW).all())["results"]
    assert any(name in row["message"] and "Telegram telegram" in row["message"] for row in rows)
    assert not any(BOT_TOKEN in str(row) or CHAT in str(row) for row in rows)

    # the list and the download
    listed = (await rt.request(RW, "GET", "/reports", headers=key(rt))).json()["result"]
    assert [i["name"] for i in listed["items"]] == [name] and listed["retentionDays"] == 30
    assert listed["items"][0]["pdfBytes"] == len(pdf.body)
    for path, kind in ((name, "pdf"), (f"{name}.html", "html"), ("latest", "pdf")):
        got = await rt.request(RW, "GET", f"/reports/{path}", headers=key(rt))
        assert got.status == 200 and got.body == (pdf.body if kind == "pdf" else html.body)
        assert got.headers["content-disposition"] == f'attachment; filename="{name}.{kind}"'


async def test_without_a_renderer_the_report_is_html_and_a_text_summary(rt: LocalRuntime, telegram: FakeTelegram,
                                                                        no_chromium: None) -> None:
    await build_ledger(rt)
    res = (await post_report(rt, {"period": "24h", "chatId": 777})).json()["result"]
    assert res["report"]["pdfBytes"] is None and res["report"]["renderer"] is None
    why = res["report"]["pdfError"]
    assert "no headless Chromium" in why and "apt-get install chromium" in why
    assert res["telegram"]["method"] == "sendMessage" and res["telegram"]["error"] is None
    assert telegram.sent("sendDocument") == []
    [msg] = telegram.sent("sendMessage")
    assert msg.body["chat_id"] == 777  # the chat asked for, not the default
    assert "net P&L +116.10 USDT (gross +127.75, fees 11.65)" in msg.body["text"]
    assert "win rate 66.7 %" in msg.body["text"] and "PDF not available: no headless Chromium" in msg.body["text"]
    bucket = rt.env(RW).REPORTS_BUCKET
    name = res["report"]["name"]
    assert await bucket.head(f"reports/{name}.pdf") is None
    html = await bucket.get(f"reports/{name}.html")
    assert html is not None and "PDF not available: no headless Chromium" in html.text()
    got = await rt.request(RW, "GET", f"/reports/{name}", headers=key(rt))
    assert got.status == 200 and got.headers["content-type"].startswith("text/html") and got.body == html.body
    assert (await rt.request(RW, "GET", f"/reports/{name}.pdf", headers=key(rt))).status == 404


async def test_without_chromium_cloudflare_browser_rendering_prints_the_pdf(rt: LocalRuntime, workspace: Workspace,
                                                                            telegram: FakeTelegram, no_chromium: None,
                                                                            tmp_path: Path) -> None:
    """The path a report takes on Cloudflare: the REST /pdf quick action with the API token."""
    from fake_cloudflare import FakeCloudflare

    fake = FakeCloudflare(token="cf-report-token-123", account_id="acc-reports").start()
    try:
        workspace.set_secret("CLOUDFLARE_API_TOKEN", "cf-report-token-123")
        workspace.set_secret("CLOUDFLARE_ACCOUNT_ID", "acc-reports")
        workspace.set_secret("CLOUDFLARE_API_BASE", fake.base_url)
        await build_ledger(rt)
        res = (await post_report(rt, {"period": "24h"})).json()["result"]
        assert res["report"]["renderer"] == "cloudflare-browser-rendering" and res["report"]["pdfError"] is None
        [call] = fake.calls("POST", r"/accounts/acc-reports/browser-rendering/pdf$")
        assert call.headers["authorization"] == "Bearer cf-report-token-123" and not fake.shape_errors
        [html] = fake.state.rendered
        assert "+116.10" in html and "66.7 %" in html and "PDF not available" not in html
        pdf = await rt.env(RW).REPORTS_BUCKET.get(f"reports/{res['report']['name']}.pdf")
        assert pdf is not None and "Rendered by the Browser Rendering fake" in pdf_text(pdf.body, tmp_path)
        assert res["telegram"]["method"] == "sendDocument" and telegram.sent("sendDocument")[0].files[
            "document"][1] == pdf.body

        fake.fail_next[r"/browser-rendering/pdf$"] = 429  # refused: HTML only, saying both why-nots
        res = (await post_report(rt, {"period": "12h"})).json()["result"]
        why = res["report"]["pdfError"]
        assert res["report"]["pdfBytes"] is None and "no headless Chromium" in why
        assert "cloudflare-browser-rendering could not render the PDF: Cloudflare Browser Rendering answered " \
               "HTTP 429: 10013: injected failure" in why and "cf-report-token-123" not in why
        assert res["telegram"]["method"] == "sendMessage"
    finally:
        fake.stop()


async def test_a_refused_document_still_reaches_the_chat_as_text(rt: LocalRuntime, telegram: FakeTelegram) -> None:
    telegram.fail_next("sendDocument", 400, description="Bad Request: file is too big")
    res = (await post_report(rt, {"period": "12h"})).json()["result"]
    assert res["telegram"]["method"] == "sendMessage"
    assert "sendDocument: Telegram API error 400: Bad Request: file is too big" in res["telegram"]["error"]
    assert len(telegram.sent("sendMessage")) == 1 and res["report"]["pdfBytes"]


async def test_without_a_bot_token_the_summary_goes_to_the_alert_outbox(rt: LocalRuntime, no_chromium: None) -> None:
    await build_ledger(rt)
    res = (await post_report(rt)).json()["result"]
    assert res["telegram"] == {"channel": "outbox", "method": None, "messageId": None, "error": None}
    rows = (await rt.env("hoox").DB.prepare("SELECT source, delivery, message FROM alerts").all())["results"]
    assert len(rows) == 1 and rows[0]["source"] == RW and rows[0]["delivery"] == "outbox"
    assert "hoox P&L report, last 24h" in rows[0]["message"] and "+116.10" in rows[0]["message"]


# =========================================================================== input, retention, cron
async def test_bad_requests_name_the_field_and_store_nothing(rt: LocalRuntime, no_chromium: None) -> None:
    for body, field in (({"period": "1h"}, "period"), ({"period": 12}, "period"), ({"chatId": [1]}, "chatId"),
                        ([], "body")):
        r = await post_report(rt, body)
        assert r.status == 400, body
        err = r.json()["error"]
        assert err["code"] == "VALIDATION_ERROR" and err["details"][0]["field"] == field, err
    assert "12h, 24h, 7d" in (await post_report(rt, {"period": "1h"})).json()["error"]["details"][0]["issue"]
    assert (await rt.request(RW, "POST", "/report", json={})).status == 401
    assert (await rt.request(RW, "GET", "/reports")).status == 401
    bad = await rt.request(RW, "GET", "/reports/..%2Fsecrets", headers=key(rt))
    assert bad.status == 400 and bad.json()["error"]["details"][0]["field"] == "name"
    assert (await rt.request(RW, "GET", "/reports/latest", headers=key(rt))).status == 404
    assert (await rt.env(RW).REPORTS_BUCKET.list(prefix="")).objects == []


async def test_reports_older_than_30_days_are_swept(rt: LocalRuntime, clock: Any, no_chromium: None) -> None:
    first = (await post_report(rt)).json()["result"]
    assert first["swept"] == 0
    clock.advance(29 * 86400)
    second = (await post_report(rt)).json()["result"]
    assert second["swept"] == 0
    clock.advance(2 * 86400)  # the first is now 31 days old, the second 2 days
    third = (await post_report(rt)).json()["result"]
    assert third["swept"] == 1  # the first report's HTML (it had no PDF)
    listed = (await rt.request(RW, "GET", "/reports", headers=key(rt))).json()["result"]["items"]
    assert [i["name"] for i in listed] == [third["report"]["name"], second["report"]["name"]]


async def test_the_cron_makes_the_12h_report_at_06_and_18_utc(rt: LocalRuntime, clock: Any,
                                                              telegram: FakeTelegram) -> None:
    assert catalog.worker(RW).crons == ("0 6,18 * * *",)
    fires = [START]
    for _ in range(3):
        fires.append(cronlib.next_fire(catalog.worker(RW).crons[0], fires[-1]))
    assert [datetime.fromtimestamp(t, UTC).strftime("%d %H:%M") for t in fires[1:]] == [
        "05 18:00", "06 06:00", "06 18:00"]
    await build_ledger(rt)
    clock.set(fires[1])
    await rt.run_cron(RW)
    listed = (await rt.request(RW, "GET", "/reports", headers=key(rt))).json()["result"]["items"]
    assert [(i["name"], i["period"], i["since"], i["until"]) for i in listed] == [
        ("daily-pnl-2026-01-05-18", "12h", "2026-01-05T06:00:00.000Z", "2026-01-05T18:00:00.000Z")]
    [sent] = telegram.sent("sendDocument")
    # 06:00-18:00 holds p5, p6 (paper) and l1, l2 (live)
    assert "PAPER book (trading now): net P&L +18.60 USDT" in sent.body["caption"]
    assert "LIVE book: net P&L +25.90 USDT" in sent.body["caption"]


# =========================================================================== the operator API
async def test_the_operator_api_says_how_to_enable_a_report_worker_that_does_not_run(workspace: Workspace) -> None:
    from test_operator_api import v1

    runtime = LocalRuntime(workspace, workers=["hoox", "d1-worker", "telegram-worker"])
    await runtime.open()
    try:
        for method, path in (("GET", "/reports"), ("POST", "/reports"), ("GET", "/reports/latest")):
            r = await v1(runtime, method, path)
            assert r.status == 503, (method, path)
            err = r.json()["error"]
            assert err["code"] == "REPORT_SERVICE_UNAVAILABLE"
            assert "hoox config set workers.report-worker.enabled true" in err["message"]
        r = await v1(runtime, "POST", "/reports", json_body={"period": "7d", "chatId": 1})
        assert r.status == 400 and r.json()["error"]["details"][0]["field"] == "chatId"  # not a field of this route
    finally:
        await runtime.stop()


# =========================================================================== the CLI
async def hoox(*args: str) -> Any:
    """A CLI command in a worker thread: the edge's event loop must keep serving."""
    return await asyncio.to_thread(cli_support.hoox, *args)


async def test_cli_report_now_list_and_get_against_a_running_edge(edge: LocalRuntime, clock: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    await build_ledger(edge)
    r = await hoox("report", "list", "--json")
    assert r.exit_code == 0 and as_json(r) == {"items": [], "nextCursor": None, "retentionDays": 30}
    assert "No report yet" in (await hoox("report", "list")).stdout

    r = await hoox("report", "now", "--period", "24h", "--json")
    assert r.exit_code == 0, r.output
    made = as_json(r)
    name = made["report"]["name"]
    assert name == "daily-pnl-2026-01-05-12" and made["report"]["renderer"] == "chromium"
    assert [b["netRealizedPnl"] for b in made["books"]] == [pytest.approx(116.10), pytest.approx(25.90)]
    assert made["telegram"]["channel"] == "outbox"  # no bot token in this workspace

    human = await hoox("report", "now")  # the default period, 24h, in the same hour: the report is replaced
    assert human.exit_code == 0, human.output
    assert f"Report {name}: last 24h" in human.stdout
    assert "paper: net P&L +116.10 (gross +127.75, fees 11.65), 6 fill(s), win rate 66.7 %" in human.stdout
    assert "live: net P&L +25.90" in human.stdout and "PDF" in human.stdout and "HTML kept" in human.stdout

    listed = as_json(await hoox("report", "list", "--json"))["items"]
    assert [(i["name"], i["period"]) for i in listed] == [(name, "24h")] and listed[0]["pdfBytes"]
    assert name in (await hoox("report", "list")).stdout

    target = tmp_path / "out" / "report.pdf"
    target.parent.mkdir()
    r = await hoox("report", "get", name, "-o", str(target), "--json")
    assert r.exit_code == 0, r.output
    stored = await edge.env(RW).REPORTS_BUCKET.get(f"reports/{name}.pdf")
    assert stored is not None and target.read_bytes() == stored.body
    assert as_json(r) == {"name": name, "file": str(target), "bytes": len(stored.body),
                          "contentType": "application/pdf"}
    assert "+116.10" in pdf_text(target.read_bytes(), tmp_path)

    monkeypatch.chdir(tmp_path)  # without -o: the report's own file name, here
    r = await hoox("report", "get", f"{name}.html")
    assert r.exit_code == 0 and (tmp_path / f"{name}.html").read_text().startswith("<!DOCTYPE html>")
    r = await hoox("report", "get", "latest", "--json")
    assert r.exit_code == 0 and as_json(r)["file"] == f"{name}.pdf" and (tmp_path / f"{name}.pdf").exists()

    # refusals: a usage error before any call, the edge's 400 and 404 with what to do
    r = await hoox("report", "now", "--period", "1h", "--json")
    assert r.exit_code == 2 and as_json(r)["error"]["code"] == "USAGE_ERROR" and "12h, 24h, 7d" in r.stdout
    r = await hoox("report", "get", name, "-o", str(tmp_path / "missing" / "r.pdf"), "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "INVALID_VALUE" and "--output" in r.stdout
    r = await hoox("report", "get", "yesterday", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "VALIDATION_ERROR"
    assert "daily-pnl-YYYY-MM-DD-HH" in as_json(r)["error"]["message"]
    r = await hoox("report", "get", "daily-pnl-2025-01-01-06", "--json")
    assert r.exit_code == 1 and as_json(r)["error"]["code"] == "NOT_FOUND"
    assert not (tmp_path / "daily-pnl-2025-01-01-06.pdf").exists()


# =========================================================================== the Telegram desk's /report
async def test_the_desk_report_command_sends_the_pdf_to_the_chat_that_asked(rt: LocalRuntime, workspace: Workspace,
                                                                            telegram: FakeTelegram) -> None:
    secret = "desk-secret-for-reports_0123"
    workspace.set_secret("TELEGRAM_WEBHOOK_SECRET", secret)
    await build_ledger(rt)

    async def say(update_id: int, text: str) -> None:
        r = await rt.request("hoox", "POST", "/telegram-webhook", json=message_update(update_id, text,
                                                                                      chat_id=int(CHAT)),
                             headers={"X-Telegram-Bot-Api-Secret-Token": secret})
        assert r.status == 200, r.json()

    await say(1, "/report 24h")
    [doc] = telegram.sent("sendDocument")
    assert doc.body["chat_id"] == CHAT and doc.files["document"][0] == "daily-pnl-2026-01-05-12.pdf"
    assert "net P&L +116.10 USDT" in doc.body["caption"]
    [reply] = telegram.sent("sendMessage")
    assert reply.body["text"] == "Report daily-pnl-2026-01-05-12: its PDF sent above."
    assert telegram.calls.index(doc) < telegram.calls.index(reply)  # the PDF first, then the word on it

    await say(2, "/report 1h")
    assert telegram.sent("sendMessage")[-1].body["text"] == "Usage: /report [12h|24h|7d] (default 24h)."
    await say(3, "/help")
    assert "/report [12h|24h|7d]" in telegram.sent("sendMessage")[-1].body["text"]
    assert len(telegram.sent("sendDocument")) == 1

    rt.workers.remove(RW)  # as a workspace that does not run report-worker
    await say(4, "/report")
    assert "hoox config set workers.report-worker.enabled true" in telegram.sent("sendMessage")[-1].body["text"]


# =========================================================================== retention on Cloudflare
def test_remote_provision_sets_the_report_buckets_30_day_lifecycle_rule(workspace: Workspace, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_cloudflare import start_fake

    monkeypatch.setenv("HOOX_WORKSPACE", str(workspace.root))
    fake = start_fake(monkeypatch, tmp_path / "home")
    try:
        res = cli_support.hoox("infra", "provision", "--remote", "--json")
        assert res.exit_code == 0, res.stdout
        [bucket] = [r for r in as_json(res)["resources"] if r["name"] == "trade-reports"]
        assert bucket["created"] and bucket["lifecycle"] == "reports/ deleted 30 days after upload"
        assert fake.state.r2["trade-reports"]["lifecycle"] == [{
            "id": "hoox-reports-retention", "enabled": True, "conditions": {"prefix": "reports/"},
            "deleteObjectsTransition": {"condition": {"type": "Age", "maxAge": 30 * 86400}}}]
        assert "lifecycle" not in fake.state.r2["hoox-system-logs"] and fake.shape_errors == []
        again = cli_support.hoox("infra", "provision", "--remote", "--json")  # idempotent: the same rule again
        assert again.exit_code == 0 and len(fake.calls("PUT", r"/r2/buckets/trade-reports/lifecycle$")) == 2
    finally:
        fake.stop()

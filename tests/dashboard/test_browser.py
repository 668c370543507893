"""A person's sessions in headless Chromium at 1280 px: sign in, create datasets, upload CSVs, read models and charts.

Debian's Chromium (/usr/bin/chromium) driven by Playwright for Python against pytest-django's
live server; uploads train at once here (tasks run eagerly in tests).  Screenshots go to
artifacts/screenshots/ (gitignored) for a person to look at: ``dashboard.png`` (the two-feature
page), ``diabetes.png`` (the whole ten-feature page), ``diabetes-models.png`` (the model
section), ``diabetes-convergence-loss.png`` and ``diabetes-convergence-time.png`` (the chart
as loss with per-revision optima, and against wall time).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
#: How Chromium logs an API answer like the duplicate upload's 409, which the page shows as it should.
EXPECTED_HTTP_ERROR = "Failed to load resource: the server responded with a status of 409"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
SCREENSHOT = SCREENSHOTS / "dashboard.png"
VIEWPORT = {"width": 1280, "height": 1000}


def _csv(seed: int, rows: int = 80) -> bytes:
    """y = 3 x1 - 2 x2 + 1 + noise, with an extra column the dataset does not have."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (rows, 2)) * [2.0, 5.0] + [1.0, 3.0]
    y = X @ [3.0, -2.0] + 1.0 + rng.normal(0.0, 0.2, rows)
    lines = ["id,x1,x2,y"] + [f"{i},{a!r},{b!r},{t!r}" for i, ((a, b), t) in enumerate(zip(X.tolist(), y.tolist()))]
    return ("\n".join(lines) + "\n").encode()


def _browser_page(playwright, errors: list[str], expected: str | None = None):
    """Chromium and a 1280 px page whose script errors and console errors (but ``expected``) go to ``errors``."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport=VIEWPORT)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" and not (
        expected and message.text.startswith(expected)) else None)
    return browser, page


def _wait_for_charts(page) -> None:
    """Until Plotly (loaded after dashboard.js, 4 MB) has drawn the timing chart."""
    page.wait_for_function("() => document.querySelector('#chart-timing .main-svg') !== null", timeout=30_000)


def test_sign_in_create_upload_and_see_model_and_charts(live_server, django_user_model, monkeypatch) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    django_user_model.objects.create_user(username="pat", password="browser-pw-1")
    # Playwright's sync API runs an event loop in this thread; the ORM calls above are done.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser, page = _browser_page(playwright, errors, expected=EXPECTED_HTTP_ERROR)

        page.goto(f"{live_server.url}/dashboard/")
        page.fill("input[name=username]", "pat")
        page.fill("input[name=password]", "browser-pw-1")
        page.click("form.panel button[type=submit]")
        expect(page.locator("h1")).to_have_text("Datasets")

        page.fill("#id_name", "browser test")
        page.fill("#id_features", "x1, x2")
        page.fill("#id_target", "y")
        page.click("#create-dataset button[type=submit]")
        expect(page.locator("h1")).to_have_text("browser test")
        _wait_for_charts(page)

        page.set_input_files("#file-input", [
            {"name": "first.csv", "mimeType": "text/csv", "buffer": _csv(1)},
            {"name": "second.csv", "mimeType": "text/csv", "buffer": _csv(2)},
        ])
        results = page.locator("#upload-results li")
        expect(results.filter(has_text="second.csv: batch #2, 80 rows")).to_have_class("ok", timeout=30_000)
        expect(results.filter(has_text="first.csv: batch #1, 80 rows")).to_have_class("ok")

        for i, mode in enumerate(("incremental", "naive")):  # the model section refreshes once training is done
            card = page.locator(f'#model-states .model-state[data-mode="{mode}"]')
            expect(card.locator('dd[data-fact="revision"]')).to_have_text("2 (latest)", timeout=30_000)
            weight = page.locator('#weights-table tr[data-feature="x1"] td').nth(i)
            assert abs(float(weight.inner_text()) - 3.0) < 0.1
        expect(page.locator("#dataset-status")).to_contain_text("revision 2 · 160 rows · trained")
        expect(results.filter(has_text="second.csv")).to_have_text(
            "second.csv: batch #2, 80 rows (revision 2) · trained")  # the line ends where the header does
        # convergence: 2 revisions x 2 modes overlaid; timing: a line per mode; memos: 2 per mode
        for chart, traces in (("convergence", 4), ("timing", 2), ("memos", 4)):
            expect(page.locator(f"#chart-{chart} .scatterlayer .trace")).to_have_count(traces, timeout=15_000)
        timing_points = page.locator("#chart-timing .scatterlayer .trace").first.locator(".points path")
        expect(timing_points).to_have_count(2)

        page.fill("#predict-form input[name=x1]", "1")
        page.fill("#predict-form input[name=x2]", "1")
        page.click("#predict-form button[type=submit]")
        expect(page.locator("#prediction")).to_contain_text("(incremental, revision 2)")
        predicted = float(page.locator("#prediction").inner_text().split("≈")[1].split()[0])
        assert abs(predicted - 2.0) < 0.1  # 3 - 2 + 1

        page.set_input_files("#file-input", [{"name": "first-again.csv", "mimeType": "text/csv",
                                              "buffer": _csv(1)}])
        expect(results.filter(has_text="first-again.csv")).to_have_text(
            "first-again.csv: identical to batch #1 of 'browser test' (not added again)")

        batch_rows = page.locator("#batch-table tbody tr")  # redrawn from the server after the uploads
        expect(batch_rows).to_have_count(2)
        expect(page.locator('#batch-table tr[data-batch="2"]')).to_contain_text("second.csv")

        with page.expect_download() as download:
            page.click('button.download[data-chart="timing"]')
        assert download.value.suggested_filename == "browser_test-timing.csv"
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0] == "revision,first_revision,batch,mode,rows_batch,rows_total,wall_ms,iterations"
        assert len(lines) == 5

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert errors == []


DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _diabetes_files() -> list[bytes]:
    """scikit-learn's diabetes data (442 rows, 10 features) as five CSV files, the way the issue tried it."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    lines = [",".join(DIABETES_FEATURES + ["progression"])]
    lines += [",".join(repr(float(v)) for v in [*row, target]) for row, target in zip(data.data, data.target)]
    rows = lines[1:]
    return [("\n".join([lines[0], *part]) + "\n").encode() for part in np.array_split(np.array(rows), 5)]


def _chart(page, chart: str):
    """The chart's traces as Plotly holds them (name, mode, colours, data)."""
    return page.evaluate(f"""() => document.getElementById("chart-{chart}").data.map((t) => ({{
        name: t.name, legendgroup: t.legendgroup || null, x: Array.from(t.x || []), y: Array.from(t.y || []),
        color: t.line ? t.line.color : null, dash: t.line ? t.line.dash : null,
        markers: t.marker && Array.isArray(t.marker.color) ? t.marker.color : null,
        customdata: t.customdata || null, orientation: t.orientation || null}}))""")


def _tick_labels(page, chart: str, axis: str) -> list[str]:
    return [text.strip() for text in page.locator(f"#chart-{chart} .{axis}tick text").all_text_contents()]


def _label_value(text: str) -> float:
    text = text.replace("−", "-")
    return float(text[:-1]) * 1e3 if text.endswith("k") else float(text)


def test_ten_features_at_1280_px_model_view_and_charts_tell_the_story(live_server, django_user_model,
                                                                      monkeypatch) -> None:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    from salsaweb.regression import services

    user = django_user_model.objects.create_user(username="dee", password="browser-pw-2")
    dataset = services.dataset_create(owner=user, name="diabetes", features=DIABETES_FEATURES, target="progression")
    files = _diabetes_files()
    for number, content in enumerate(files[:2], start=1):  # two batches trained together: revision 2 takes in 1-2
        services.batch_create(dataset=dataset, content=content, source=f"diabetes-{number}.csv")
    services.dataset_train(dataset=dataset)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser, page = _browser_page(playwright, errors)
        page.goto(f"{live_server.url}/dashboard/datasets/{dataset.pk}/")
        page.fill("input[name=username]", "dee")
        page.fill("input[name=password]", "browser-pw-2")
        page.click("form.panel button[type=submit]")
        expect(page.locator("h1")).to_have_text("diabetes")
        _wait_for_charts(page)

        page.set_input_files("#file-input", [{"name": f"diabetes-{n}.csv", "mimeType": "text/csv", "buffer": files[n - 1]}
                                             for n in (3, 4, 5)])
        results = page.locator("#upload-results li")
        expect(page.locator("#dataset-status")).to_contain_text("revision 5 · 442 rows · trained", timeout=60_000)
        for n in (3, 4, 5):  # every per-file line ends in the truth the header tells
            expect(results.filter(has_text=f"diabetes-{n}.csv")).to_contain_text(" · trained", timeout=15_000)

        # The model view fits 1280 px with ten features: state cards in view, weights with features as rows.
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
        for mode in ("incremental", "naive"):
            card = page.locator(f'#model-states .model-state[data-mode="{mode}"]')
            expect(card.locator('dd[data-fact="revision"]')).to_have_text("5 (latest)", timeout=30_000)
            expect(card.locator('dd[data-fact="converged"]')).to_have_text("yes")
            for fact in ("iterations", "loss", "optimum-loss", "training"):
                box = card.locator(f'dd[data-fact="{fact}"]').bounding_box()
                assert box is not None and box["x"] + box["width"] <= VIEWPORT["width"], fact
            said = card.locator('dd[data-fact="optimum-loss"]').inner_text()
            assert re.fullmatch(r"[\d.]+ \(loss (\+[\d.e-]+% above|at it, to rounding)\)", said), said
        expect(page.locator("#weights-table tbody tr")).to_have_count(len(DIABETES_FEATURES) + 1)
        table_box = page.locator("#weights-table").bounding_box()
        assert table_box["x"] + table_box["width"] <= VIEWPORT["width"]
        bmi = float(page.locator('#weights-table tr[data-feature="bmi"] td').nth(0).inner_text())
        optimum_bmi = float(page.locator('#weights-table tr[data-feature="bmi"] td').nth(2).inner_text())
        assert bmi == pytest.approx(optimum_bmi, rel=1e-3)
        bars = _chart(page, "weights")
        assert [t["orientation"] for t in bars] == ["h", "h"] and bars[0]["y"] == DIABETES_FEATURES
        strongest = max(zip(bars[0]["x"], bars[0]["y"]), key=lambda pair: abs(pair[0]))
        assert strongest[1] in ("bmi", "s5", "s1")  # diabetes: bmi and serum s5 (and s1 with s2) carry it
        for label in page.locator("#predict-form label").all():  # no input wraps mid-label
            box, field = label.bounding_box(), label.locator("input, select").bounding_box()
            assert box["height"] <= field["height"] + 8, label.inner_text()
        page.locator("#models").screenshot(path=str(SCREENSHOTS / "diabetes-models.png"))

        # Convergence: every shown revision of both modes overlaid, distance from its own optimum, log ticks labelled.
        curves = [t for t in _chart(page, "convergence") if t["legendgroup"]]
        revisions = {int(t["name"].split()[-1]) for t in curves}
        assert revisions == {2, 3, 4, 5} and len(curves) == 8
        assert all(y is None or y > 0 for t in curves for y in t["y"])
        colours = {t["name"]: t["color"] for t in curves}
        for revision in revisions:  # the same colour for both modes, two line styles
            same = [t for t in curves if t["name"] == f"revision {revision}"]
            assert len({t["color"] for t in same}) == 1 and {t["dash"] for t in same} == {"solid", "dash"}
        assert len(set(colours.values())) == len(revisions)
        labels = _tick_labels(page, "convergence", "y")
        values = [_label_value(text) for text in labels]  # every tick carries its value, none a bare digit
        assert len(values) >= 3 and values == sorted(values) and len(set(values)) == len(values)
        timing = _chart(page, "timing")
        by_mode = {t["name"]: t for t in timing}
        assert by_mode["incremental"]["x"][-1] == 442 and by_mode["naive"]["x"][-1] == 442  # against total rows
        for t in (by_mode["incremental"], by_mode["naive"]):  # a point is its revision's colour, as on the curves
            points = [(c[0], m) for c, m in zip(t["customdata"], t["markers"]) if c is not None]
            assert all(colour == colours[f"revision {revision}"] for revision, colour in points if revision > 1)
        together = by_mode["revisions trained together"]  # revision 2 took in 1-2: ringed, not a silent point
        assert together["x"] == [by_mode["incremental"]["x"][0], by_mode["naive"]["x"][0]]
        assert page.evaluate("""() => document.getElementById("chart-timing").data.at(-1).text""") == [
            "incremental: revisions 1–2 trained in one update", "naive: revisions 1–2 trained in one update"]

        page.uncheck('#convergence-modes input[value="naive"]')  # a colour stays with its revision
        alone = [t for t in _chart(page, "convergence") if t["legendgroup"]]
        assert len(alone) == 4 and all(colours[t["name"]] == t["color"] for t in alone)
        page.check('#convergence-modes input[value="naive"]')
        page.select_option("#convergence-y", "loss")  # one optimum line per revision, in its colour
        optima = [t for t in _chart(page, "convergence") if t["name"].startswith("optimum")]
        assert sorted(t["name"] for t in optima) == [f"optimum, revision {r}" for r in (2, 3, 4, 5)]
        assert all(t["color"] == colours[t["name"].replace("optimum, ", "")] for t in optima)
        page.locator("#convergence").screenshot(path=str(SCREENSHOTS / "diabetes-convergence-loss.png"))
        page.select_option("#convergence-x", "time")
        expect(page.locator("#chart-convergence .xtitle")).to_have_text("wall time since the update started (ms)")
        timed = [t for t in _chart(page, "convergence") if t["legendgroup"] and not t["name"].startswith("optimum")]
        wall = {(run["revision"], run["mode"]): run["wall_ms"] for run in page.evaluate(
            f"""async () => (await (await fetch("/api/datasets/{dataset.pk}/runs/")).json()).results""")}
        assert all(0 < max(t["x"]) <= max(wall.values()) for t in timed)
        page.locator("#convergence").screenshot(path=str(SCREENSHOTS / "diabetes-convergence-time.png"))
        page.select_option("#convergence-x", "iteration")
        page.select_option("#convergence-y", "distance")

        with page.expect_download() as download:  # every series of every chart in one file
            page.click('button.download[data-chart="all"]')
        table = Path(download.value.path()).read_text().splitlines()
        assert table[0].startswith("chart,") and {"iteration", "wall_ms", "standardized_weight"} <= set(
            table[0].split(","))
        assert {line.split(",")[0] for line in table[1:]} == {"convergence", "timing", "memos", "weights"}
        page.screenshot(path=str(SCREENSHOTS / "diabetes.png"), full_page=True)
        browser.close()
    assert errors == []


def _shoot(page, name: str) -> None:
    """Save a full-page screenshot next to dashboard.png."""
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT.parent / name), full_page=True)


def test_engine_work_graph_and_admin_lists_read_well_at_1280_px(live_server, django_user_model, monkeypatch) -> None:
    """A staff user at 1280 px sees per-revision engine work, a model's graph linked to the admin, and readable lists."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    from salsaweb.regression import scheduling, services

    staff = django_user_model.objects.create_user(username="sam", password="browser-pw-2", is_staff=True,
                                                  is_superuser=True)
    dataset = services.dataset_create(owner=staff, name="engine view", features=["x1", "x2"], target="y")
    for seed in (1, 2, 3):
        scheduling.batch_accept(dataset=dataset, content=_csv(seed), source=f"part{seed}.csv", train_now=True)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser, page = _browser_page(playwright, errors)
        page.goto(f"{live_server.url}/admin/login/?next=/dashboard/datasets/{dataset.pk}/")
        page.fill("input[name=username]", "sam")
        page.fill("input[name=password]", "browser-pw-2")
        page.click("input[type=submit]")
        expect(page.locator("h1")).to_have_text("engine view")

        work = page.locator("#engine-work-table tbody tr.summary")
        expect(work).to_have_count(6, timeout=15_000)  # revisions 3, 2, 1 of two modes, newest first
        expect(work.first).to_contain_text("node: input batch_moments(rt, 3) changed")
        work.first.click()
        expect(page.locator("#engine-work-table tr.detail").first).to_be_visible()
        page.locator("#engine-work").screenshot(path=str(SCREENSHOT.parent / "engine-work.png"))

        graph = page.locator("#engine-graph-view svg")
        expect(graph.locator('g[data-function="incremental_step"]')).to_be_visible()
        expect(graph.locator('g[data-function="node"] rect.call.executed')).to_have_count(1)
        expect(graph.locator('g[data-function="batch_moments"] rect.call.input')).to_have_count(3)
        expect(graph.locator('g[data-function="batch"]')).to_have_count(0)  # the rows: only naive reads them
        box = page.locator("#engine-graph-view").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280
        page.locator("#engine-graph").screenshot(path=str(SCREENSHOT.parent / "engine-graph.png"))
        page.select_option("#engine-graph-mode", "naive")
        expect(graph.locator('g[data-function="naive_problem"] rect.call.executed')).to_have_count(1)
        expect(graph.locator('g[data-function="batch"] rect.call.input')).to_have_count(3)
        _shoot(page, "dataset-engine.png")

        page.select_option("#engine-graph-mode", "incremental")
        with page.expect_navigation():
            graph.locator('g[data-function="statistics"] a').first.click()
        expect(page.locator("#content")).to_contain_text("statistics(rt)")

        page.goto(f"{live_server.url}/admin/runtime/memo/")
        _shoot(page, "admin-memos.png")
        header = page.locator("#result_list thead th")
        expect(page.locator("#result_list tbody tr").first).to_contain_text("engine view")
        table, filters = page.locator("#result_list").bounding_box(), page.locator("#changelist-filter").bounding_box()
        assert table is not None and filters is not None and table["x"] + table["width"] <= filters["x"]
        first_row = page.locator("#result_list tbody tr").first.bounding_box()
        assert first_row is not None and first_row["height"] < 60
        assert header.count() >= 8

        page.goto(f"{live_server.url}/admin/regression/batchrun/")
        _shoot(page, "admin-runs.png")
        expect(page.locator("#content h1")).to_contain_text("Select training record to view")
        table, filters = page.locator("#result_list").bounding_box(), page.locator("#changelist-filter").bounding_box()
        assert table is not None and filters is not None and table["x"] + table["width"] <= filters["x"]
        wall = page.locator("#result_list tbody tr").first.locator("td.field-wall_time").inner_text()
        assert re.fullmatch(r"[\d,]+\.\d\d ms", wall), wall  # rounded, not 64.81213600000046

        page.goto(f"{live_server.url}/admin/regression/")
        expect(page.locator("#content")).to_contain_text("Batches")
        expect(page.locator("#content")).not_to_contain_text("Batchs")
        page.goto(f"{live_server.url}/admin/regression/batch/")
        _shoot(page, "admin-batches.png")
        table, filters = page.locator("#result_list").bounding_box(), page.locator("#changelist-filter").bounding_box()
        assert table is not None and filters is not None and table["x"] + table["width"] <= filters["x"]
        browser.close()
    assert errors == []


def test_a_visitor_signs_up_then_creates_and_resets_an_api_token(live_server, settings, monkeypatch) -> None:
    """Sign-up on (the operator's SALSAWEB_SIGNUP): a new account signs in, sees its token, and a reset revokes it."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright
    from rest_framework.test import APIClient

    settings.SALSAWEB_SIGNUP = True
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser, page = _browser_page(playwright, errors)
        page.goto(f"{live_server.url}/accounts/login/")
        page.click("text=Sign up")
        page.fill("input[name=username]", "newcomer")
        page.fill("input[name=password1]", "a-long-pass-phrase")
        page.fill("input[name=password2]", "a-long-pass-phrase")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{live_server.url}/dashboard/")
        page.click("text=API token")
        expect(page.locator("#api-token-none")).to_be_visible()
        page.click("text=Create a token")
        first = page.locator("#api-token").inner_text()
        page.click("text=Reset token")
        expect(page.locator("#api-token")).not_to_have_text(first)
        second = page.locator("#api-token").inner_text()
        _shoot(page, "api-token.png")
        browser.close()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert api.get("/api/datasets/").status_code == 401  # the reset revoked it
    api.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert api.get("/api/datasets/").status_code == 200
    assert errors == []

#!/usr/bin/env python3
"""The `canopy ui` page in headless Chromium, driven by Selenium.

Seeds a database with the `canopy` command line (the demo tree, a nested
account with its own user, more root tenants so that the table has pages),
starts `canopy ui`, and in the browser: pages through the accounts table
(the rows are those of `canopy tree --json`), expands the graph (a node
drawn from the first load, then one whose children are fetched on
expansion), views as the nested user and sees exactly the devices of
`canopy visible --user`, and — with the server started as that user — is
refused an action above its account with the engine's message, nothing
changed. Screenshots go to $CANOPY_SCREENSHOTS (the build folder).

Needs chromium, chromium-driver and python3-selenium (scripts/install-deps.sh
installs them); without them it is skipped (exit status 77) saying which is
missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
CANOPY = os.environ.get("CANOPY_CLI", "canopy")
SHOTS = os.environ.get("CANOPY_SCREENSHOTS", os.path.join(os.getcwd(), "screenshots"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

NESTED = "nested@customer.example"


def skip(why):
    print(f"SKIPPED: {why} (scripts/install-deps.sh installs chromium, chromium-driver "
          f"and python3-selenium)")
    sys.exit(SKIP)


if not CHROMIUM:
    skip("chromium is not installed")
if not DRIVER:
    skip("chromedriver is not installed")
try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    skip(f"the selenium module is not importable by {sys.executable}")


def canopy(db, *args, actor=None, check=True):
    cmd = [CANOPY, "--db", db] + (["--actor", actor] if actor else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {r.stderr}")
    return r


def seed(db):
    canopy(db, "demo")
    canopy(db, "account", "create", "customer-a-east", "--name", "East of A",
           "--parent", "customer-a", "--sub-account-management", "on")
    canopy(db, "account", "create", "customer-a-east-1", "--name", "East 1",
           "--parent", "customer-a-east")
    canopy(db, "user", "create", NESTED, "--name", "Nested", "--account", "customer-a-east")
    canopy(db, "user", "invite", NESTED, "--account", "customer-a-east", "--role",
           "account_admin", "--branch")
    for key, account in [("dev-e1", "customer-a-east"), ("dev-e2", "customer-a-east"),
                         ("dev-e1-1", "customer-a-east-1")]:
        canopy(db, "device", "create", key, "--account", account, "--name", "Device " + key,
               "--type", "sensor")
    for i in range(1, 8):
        canopy(db, "account", "create", f"tenant-{i:02d}", "--name", f"Tenant {i}")


def start_ui(db, *args):
    p = subprocess.Popen([CANOPY, "--db", db, "ui"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        p.kill()
        raise AssertionError(f"canopy ui printed {url!r}: {p.stderr.read()}")
    return p, url


def stop_ui(p):
    p.terminate()
    p.wait(timeout=30)


class Page:
    def __init__(self, driver):
        self.d = driver
        self.wait = WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException])

    def open(self, url):
        self.d.get(url)
        self.wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))

    def by_id(self, id_):
        return self.d.find_element(By.ID, id_)

    def texts(self, css):
        # Read in one script: the page may redraw between element look-ups.
        return self.d.execute_script(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText.trim())", css)

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.d.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def until_changed(self, css, before):
        self.wait.until(lambda d: self.texts(css) != before)
        return self.texts(css)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def main():
    tmp = tempfile.mkdtemp(prefix="canopy_ui_browser_")
    db = os.path.join(tmp, "db")
    procs = []
    driver = None
    try:
        seed(db)
        tree_keys = [json.loads(line)["key"] for line in canopy(db, "--json", "tree").stdout.splitlines()]
        visible = [json.loads(line)["key"] for line in
                   canopy(db, "--json", "visible", "--user", NESTED).stdout.splitlines()]

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1400,1800", f"--user-data-dir={tmp}/chromium-profile"):
            options.add_argument(a)
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        page = Page(driver)

        # ---- As the system actor ----------------------------------------
        p, url = start_ui(db)
        procs.append(p)
        page.open(url)
        check(page.by_id("viewer").text == "system actor", "the page names the viewer")
        page.shot("01-loaded")

        # The table, five rows a page, paged to the end.
        rows = page.texts("#table tbody tr td:first-child")
        Select(page.by_id("table-size")).select_by_visible_text("5")
        rows = page.until_changed("#table tbody tr td:first-child", rows)
        seen = list(rows)
        check(len(rows) == 5, "a page of five rows")
        check(page.by_id("table-info").text == f"rows 1–5 of {len(tree_keys)}",
              "the table says which rows of how many")
        pages = 1
        while page.by_id("table-next").is_enabled():
            page.by_id("table-next").click()
            rows = page.until_changed("#table tbody tr td:first-child", rows)
            seen += rows
            pages += 1
            if pages == 2:
                page.shot("02-table-page-2")
        check(seen == tree_keys, f"paging through the table lists canopy tree's rows ({pages} pages)")
        page.by_id("table-prev").click()
        rows = page.until_changed("#table tbody tr td:first-child", rows)
        check(rows == tree_keys[(pages - 2) * 5:(pages - 1) * 5], "Previous goes back a page")
        # Sorting by a column.
        driver.find_element(By.CSS_SELECTOR, '#table th[data-sort="devicesSubtree"]').click()
        driver.find_element(By.CSS_SELECTOR, '#table th[data-sort="devicesSubtree"]').click()
        page.wait.until(lambda d: page.texts("#table tbody tr td:first-child")[:1] == ["customer"])
        check(True, "sorted by devices in subtree, descending: customer first")

        # The graph: expand a node drawn at first load, then one fetched on expansion.
        nodes = lambda: driver.execute_script(
            "return [...document.querySelectorAll('#graph-svg g.node')].map(g => g.dataset.key)")
        before = nodes()
        check("customer-a" in before and "customer-a-east" not in before,
              "the graph starts with the roots open, nested accounts collapsed")
        driver.find_element(By.CSS_SELECTOR, '#graph-svg .toggle[data-key="customer-a"]').click()
        page.wait.until(lambda d: "customer-a-east" in nodes())
        driver.find_element(By.CSS_SELECTOR, '#graph-svg .toggle[data-key="customer-a-east"]').click()
        page.wait.until(lambda d: "customer-a-east-1" in nodes())
        check(True, "expanding customer-a, then customer-a-east (fetched on demand) draws their sub-accounts")
        east = driver.find_element(By.CSS_SELECTOR, '#graph-svg g.node[data-key="customer-a-east"]')
        check("2 devices (3 in subtree)" in east.text, "a node shows its device counts")
        driver.execute_script("document.getElementById('graph').scrollIntoView()")
        page.shot("03-graph-expanded")
        driver.find_element(By.CSS_SELECTOR, '#graph-svg .toggle[data-key="customer-a"]').click()
        page.wait.until(lambda d: "customer-a-east" not in nodes())
        check(True, "collapsing hides the subtree again")

        # View as the nested user: exactly its devices, paged.
        page.by_id("dev-user").send_keys(NESTED)
        Select(page.by_id("dev-size")).select_by_visible_text("10")
        page.by_id("dev-show").click()
        page.wait.until(lambda d: page.by_id("dev-info").text.startswith("devices 1–"))
        keys = page.texts("#dev-table tbody td.device-key")
        while page.by_id("dev-next").is_enabled():
            page.by_id("dev-next").click()
            keys = keys + page.until_changed("#dev-table tbody td.device-key", keys[-10:])
        check(keys == visible, f"viewing as {NESTED} lists exactly canopy visible's {len(visible)} devices")
        check(f"of {len(visible)} (exact count)" in page.by_id("dev-info").text, "with the exact count")
        driver.execute_script("document.getElementById('devices').scrollIntoView()")
        page.shot("04-view-as-nested-user")
        # Explain one of them.
        driver.find_element(By.CSS_SELECTOR, "#dev-table tbody button").click()
        page.wait.until(lambda d: d.find_elements(By.ID, "check-verdict"))
        check(page.by_id("check-verdict").text == "allowed", "explain says allowed, and why")
        stop_ui(p)
        procs.remove(p)

        # ---- As the nested user: an action above its account is refused ----
        p, url = start_ui(db, "--as", NESTED)
        procs.append(p)
        page.open(url)
        check(page.by_id("viewer").text == NESTED, "the page names the user viewer")
        own = page.texts("#dev-table tbody td.device-key")
        check(own == visible[:20], "a user viewer sees its own devices at once")
        table_rows = page.texts("#table tbody tr td:first-child")
        check(table_rows == ["customer-a-east", "customer-a-east-1"], "and only its accounts in the table")
        page.wait.until(lambda d: nodes() == ["customer-a-east", "customer-a-east-1"])
        check(True, "its graph shows its own accounts, from its top account down")
        driver.find_element(By.CSS_SELECTOR, '#table a.acct[data-key="customer-a-east-1"]').click()
        page.wait.until(lambda d: "✓ create sub-accounts" in page.by_id("picked").text)
        check(page.by_id("create-parent").get_attribute("value") == "customer-a-east-1",
              "picking an account says what the viewer may do there and fills the forms")
        engine = canopy(db, "account", "create", "sneaky", "--name", "Sneaky", "--parent",
                        "customer-a", actor=NESTED, check=False)
        check(engine.returncode == 1, "the engine refuses it on the command line too")
        page.by_id("create-key").send_keys("sneaky")
        page.by_id("create-parent").clear()
        page.by_id("create-parent").send_keys("customer-a")
        page.by_id("create-run").click()
        page.wait.until(lambda d: d.find_elements(By.ID, "action-refusal"))
        refusal = page.by_id("action-refusal").text
        message = engine.stderr.strip().splitlines()[-1].split(": ", 2)[-1]
        check(refusal.endswith(message), f"the page shows the engine's refusal: {refusal!r} (canopy: {message!r})")
        driver.execute_script("document.getElementById('actions').scrollIntoView()")
        page.shot("05-refused-above-its-account")
        after = [json.loads(line)["key"] for line in canopy(db, "--json", "tree").stdout.splitlines()]
        check(after == tree_keys, "nothing was created")
        # Allowed inside its own branch.
        page.by_id("create-key").clear()
        page.by_id("create-key").send_keys("customer-a-east-2")
        page.by_id("create-parent").clear()
        page.by_id("create-parent").send_keys("customer-a-east")
        page.by_id("create-run").click()
        page.wait.until(lambda d: "customer-a-east-2" in page.texts("#table tbody tr td:first-child"))
        check(True, "creating inside its own branch works and shows in the table")
        log = canopy(db, "--json", "log").stdout.splitlines()
        check(json.loads(log[-1])["actor"] == NESTED, "the change log names the viewer as the actor")
        stop_ui(p)
        procs.remove(p)
        print(f"screenshots in {SHOTS}")
    finally:
        if driver:
            driver.quit()
        for p in procs:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

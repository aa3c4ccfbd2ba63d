// Opens a rendered report in headless Chromium with the network blocked and
// checks what a reader would meet: no console errors, no network requests,
// no script dialogs (injection), no serious or critical axe-core
// violations, trend points inside their charts, no horizontal overflow on a phone, readable with scripts off,
// and a clean A4 print. Takes screenshots (desktop, and -phone.png) and
// prints the PDF check_pdf.py reads.
//
// usage: node check_report.mjs REPORT.html SCREENSHOT.png AXE_PATH
import { chromium } from "playwright-core";
import path from "node:path";
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const [report, screenshot, axePath] = process.argv.slice(2);
const url = pathToFileURL(path.resolve(report)).href;
const args = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args });
let passed = 0;
const failures = [];
function check(name, ok, detail) {
  if (ok) passed += 1;
  else failures.push(`${name}: ${detail}`);
}

async function open(options) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const events = { requests: [], console: [], dialogs: [], errors: [] };
  await context.route("**/*", (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    events.requests.push(u);
    return route.abort();
  });
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") events.console.push(m.text()); });
  page.on("pageerror", (e) => events.errors.push(e.message));
  page.on("dialog", (d) => { events.dialogs.push(d.message()); d.dismiss(); });
  await page.goto(url, { waitUntil: "load" });
  return { context, page, events };
}

// Desktop, scripts on.
{
  const { context, page, events } = await open({ viewport: { width: 1280, height: 900 } });
  await page.screenshot({ path: screenshot });
  // The executive summary starts within the first screen.
  const summaryTop = await page.evaluate(() => {
    const s = document.getElementById("summary");
    return s ? s.getBoundingClientRect().top : -1;
  });
  check("summary first screen", summaryTop >= 0 && summaryTop < 900, `summary starts at ${summaryTop}px`);
  // Exercise the enhancements: sort a column and filter a table.
  const sortButton = page.locator("table.sortable th button.sort").first();
  if (await sortButton.count()) await sortButton.click();
  const filter = page.locator("p.filter input").first();
  if (await filter.count()) await filter.fill("fail");
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const serious = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  check("axe-core", serious.length === 0, serious.map((v) => `${v.id} (${v.impact}): ${v.help} ×${v.nodes.length}`).join("; "));
  check("network", events.requests.length === 0, events.requests.join(", "));
  check("console", events.console.length === 0, events.console.join(" | "));
  check("page errors", events.errors.length === 0, events.errors.join(" | "));
  check("dialogs", events.dialogs.length === 0, events.dialogs.join(" | "));
  // Trend charts (audit --period): every point inside its chart and named.
  const trend = await page.evaluate(() => {
    const bad = [];
    for (const svg of document.querySelectorAll("svg.panel, .spark svg")) {
      const [, , w, h] = svg.getAttribute("viewBox").split(" ").map(Number);
      for (const c of svg.querySelectorAll("circle")) {
        const x = Number(c.getAttribute("cx"));
        const y = Number(c.getAttribute("cy"));
        if (!(x >= 0 && x <= w && y >= 0 && y <= h)) bad.push(`point ${x},${y} outside ${w}x${h}`);
        if (!c.querySelector("title")) bad.push("a point without a title");
      }
      if (!svg.querySelector("title") && !svg.getAttribute("aria-label")) bad.push("a chart without a name");
    }
    return bad;
  });
  check("trend charts", trend.length === 0, trend.slice(0, 5).join("; "));
  // No chart text is cut off: every text box lies within its drawing.
  const clipped = await page.evaluate(() => {
    const bad = [];
    for (const t of document.querySelectorAll("svg.chart text")) {
      const [, , w, h] = t.ownerSVGElement.getAttribute("viewBox").split(" ").map(Number);
      const b = t.getBBox();
      if (b.x < -0.5 || b.x + b.width > w + 0.5 || b.y < -0.5 || b.y + b.height > h + 0.5) {
        bad.push(`"${t.textContent.slice(0, 30)}" ${b.x.toFixed(0)}..${(b.x + b.width).toFixed(0)} of ${w}`);
      }
    }
    return bad;
  });
  check("chart labels", clipped.length === 0, clipped.slice(0, 5).join("; "));
  const h1 = await page.locator("h1").count();
  check("heading", h1 === 1, `${h1} h1 elements`);
  // Print the whole report: the filter exercised above is cleared.
  if (await filter.count()) await filter.fill("");
  await page.emulateMedia({ media: "print" });
  const pdf = await page.pdf({ format: "A4", printBackground: true });
  check("print", pdf.length > 10_000, `PDF of ${pdf.length} bytes`);
  // Kept beside the screenshot for the page checks of check_pdf.py.
  fs.writeFileSync(screenshot.replace(/\.png$/, ".pdf"), pdf);
  // The same print with each table's header and body rows marked by tiny
  // white text, so check_pdf.py can tell which rows of which table each
  // page holds (a lone row, a repeated header with nothing under it).
  await page.evaluate(() => {
    document.querySelectorAll("table").forEach((t, i) => {
      for (const c of t.querySelectorAll("thead tr > :first-child")) c.setAttribute("data-mark", `[[${i}h]]`);
      for (const c of t.querySelectorAll("tbody tr > :first-child")) c.setAttribute("data-mark", `[[${i}r]]`);
    });
    const style = document.createElement("style");
    style.textContent = "[data-mark]::before { content: attr(data-mark); font-size: 1px; color: #fff; }";
    document.head.appendChild(style);
  });
  const marked = await page.pdf({ format: "A4", printBackground: true });
  fs.writeFileSync(screenshot.replace(/\.png$/, ".marked.pdf"), marked);
  await context.close();
}

// Phone width: nothing wider than the screen but scrollable table wrappers.
{
  const { context, page } = await open({ viewport: { width: 390, height: 844 }, isMobile: true });
  await page.screenshot({ path: screenshot.replace(/\.png$/, "-phone.png") });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check("phone width", overflow <= 1, `page is ${overflow}px wider than the screen`);
  // Chart text is at least 11 px as drawn on the phone.
  const small = await page.evaluate(() => {
    const bad = [];
    for (const t of document.querySelectorAll("svg.chart text")) {
      const svg = t.ownerSVGElement;
      const size = parseFloat(getComputedStyle(t).fontSize) * (svg.getScreenCTM() ? svg.getScreenCTM().a : 1);
      if (size < 10.95) bad.push(`${t.textContent.slice(0, 30)} at ${size.toFixed(1)} px`);
    }
    return bad;
  });
  check("phone chart text", small.length === 0, small.slice(0, 5).join("; "));
  await context.close();
}

// Scripts off: the content is all there.
{
  const { context, page, events } = await open({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false });
  const rows = await page.locator("table tbody tr").count();
  check("no-script tables", rows > 0, "no table rows without scripts");
  check("no-script network", events.requests.length === 0, events.requests.join(", "));
  await context.close();
}

await browser.close();
for (const f of failures) console.log(`FAILED ${f}`);
console.log(`browser: ${passed} passed, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);

// Shared helpers of the browser tests: the browser, the control server of the Rust test that
// started the hub, and the steps a cardholder takes.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";

export const BASE = process.env.CHAKA_E2E_BASE;
const CONTROL = process.env.CHAKA_E2E_CONTROL;
const ARTIFACTS = process.env.CHAKA_E2E_ARTIFACTS || "artifacts";
export const PASSWORD = "chaka-2026!";
export const PIN = "902741";

if (!BASE || !CONTROL) {
  throw new Error("run these tests through `cargo test -p chaka-hub --test it web::` (it starts the hub)");
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHAKA_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

export const PHONE_VIEWPORT = { width: 360, height: 780 };
export const DESKTOP_VIEWPORT = { width: 1280, height: 900 };

export async function control(method, route) {
  const response = await fetch(CONTROL + route, { method });
  assert.equal(response.status, 200, `control ${route}`);
  return response.json();
}

export const advance = (secs) => control("POST", `/advance?secs=${secs}`);
export const pauseFanout = (on) => control("POST", `/pause/${on ? "on" : "off"}`);
export const personOf = (i) => control("GET", `/person/${i}`);

/** The last SMS code the phone received (waits for the outbox to deliver it). */
export async function codeFor(phone) {
  for (let i = 0; i < 50; i += 1) {
    const { code } = await control("GET", `/code?phone=${phone}`);
    if (code) return code;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("no code reached the phone");
}

export async function smsTemplates(phone) {
  return (await control("GET", `/sms?phone=${phone}`)).templates;
}

export async function shot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The page has no horizontal scrolling (it fits its viewport). */
export async function fitsWidth(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `the page is ${scroll}px wide in a ${width}px viewport`);
}

/** Registers a person through the pages and lands on the PIN page. */
export async function register(page, p) {
  await page.goto(BASE + "/register");
  await page.locator("#name").fill(p.name);
  await page.locator("#id_number").fill(p.id_number);
  await page.locator("#phone").fill(p.phone);
  await advance(61);
  await page.locator("#send-code").click();
  await page.locator("#form-notice").waitFor();
  await page.locator("#code").fill(await codeFor(p.phone));
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#register-submit").click();
  await page.waitForURL(BASE + "/pin");
}

/** Sets the first PIN on the PIN page and lands home. */
export async function setPin(page, pin = PIN) {
  await page.locator("#pin").fill(pin);
  await page.locator("#pin2").fill(pin);
  await page.locator("#pin-set-submit").click();
  await page.waitForURL(/\/\?done=pin_set$/);
}

export async function login(page, phone) {
  await page.goto(BASE + "/login");
  await page.locator("#phone").fill(phone);
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#login-submit").click();
  await page.waitForURL(BASE + "/");
}

/** Reads the agreement to its end and ticks "agree". */
export async function agree(page) {
  const agree = page.locator("#agree");
  assert.equal(await agree.isDisabled(), true, "agree is off until the text was shown");
  await page.locator("#agreement").evaluate((box) => { box.scrollTop = box.scrollHeight; });
  await page.waitForFunction(() => !document.getElementById("agree").disabled);
  await agree.check();
}

/** Asks for the lookup code, types it and submits; returns the inquiry page's URL. */
export async function confirmAndSubmit(page, phone) {
  await advance(61);
  await page.locator("#ask-send-code").click();
  await page.locator("#form-notice").waitFor();
  await page.locator("#code").fill(await codeFor(phone));
  await page.locator("#ask-submit").click();
  await page.waitForLoadState();
  const refused = page.locator("#form-error");
  if (await refused.count()) throw new Error("the submission was refused: " + (await refused.innerText()));
  await page.waitForURL(/\/inquiries\/[0-9a-f-]+$/);
  return page.url();
}

/** Types a PIN on the pad (never on the keyboard) and opens the report. */
export async function enterPin(page, pin) {
  for (const digit of pin) {
    await page.locator(`.pinpad button[data-digit="${digit}"]`).click();
  }
  assert.equal(await page.locator("#pin").getAttribute("type"), "password", "digits are not echoed");
  assert.equal(await page.locator(".pin-dots span.filled").count(), 6);
  await page.locator("#open-submit").click();
  await page.waitForLoadState();
}

/** Every visible field has a label and every button a name; the page has one h1 and a lang. */
export async function accessible(page) {
  const problems = await page.evaluate(() => {
    const out = [];
    const visible = (e) => e.offsetParent !== null;
    for (const input of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
      if (visible(input) && input.labels.length === 0 && !input.getAttribute("aria-label")) out.push(`unlabelled ${input.name}`);
    }
    for (const button of document.querySelectorAll("button")) {
      if (visible(button) && !button.textContent.trim() && !button.getAttribute("aria-label")) out.push("a button without a name");
    }
    if (document.querySelectorAll("h1").length !== 1) out.push("not one h1");
    if (!document.documentElement.lang) out.push("no lang");
    return out;
  });
  assert.deepEqual(problems, [], page.url());
}

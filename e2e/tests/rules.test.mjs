// The pages in English on a desktop screen, a region that is not open yet, and refusals of
// forged or malformed forms.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE, DESKTOP_VIEWPORT, PHONE_VIEWPORT, launch, register, setPin, agree, confirmAndSubmit,
  enterPin, personOf, shot, fitsWidth, PIN,
} from "./support.mjs";

let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("in English: register, ask, and an empty report", async () => {
  const context = await browser.newContext({ viewport: DESKTOP_VIEWPORT });
  const page = await context.newPage();
  const person = await personOf(4);
  await page.goto(BASE + "/");
  await page.locator("#lang-switch").click();
  await page.waitForURL(BASE + "/");
  assert.equal(await page.locator("html").getAttribute("lang"), "en");
  assert.match(await page.locator("h1").innerText(), /Find every bank card in your name/);
  await shot(page, "11-landing-en");
  await register(page, person);
  assert.match(await page.locator("h1").innerText(), /Payment PIN/);
  await setPin(page, PIN);
  await page.locator("#go-ask").click();
  await agree(page);
  await shot(page, "12-ask-en");
  await confirmAndSubmit(page, person.phone);
  await page.locator("#open-report .pinpad").waitFor({ timeout: 30000 });
  await enterPin(page, PIN);
  await page.locator("#summary").waitFor();
  assert.equal(await page.locator("#total-cards").innerText(), "0");
  assert.ok((await page.locator(".none").count()) > 0, "each bank says it has no card");
  assert.match(await page.locator("main").innerText(), /No card in your name at this bank/);
  await shot(page, "13-report-en");
  await context.close();
});

test("a region that is not open yet is told so clearly", async () => {
  const context = await browser.newContext({ viewport: PHONE_VIEWPORT });
  const page = await context.newPage();
  const person = await personOf(3);
  await register(page, person);
  await setPin(page);
  await page.locator("#go-ask").click();
  await page.locator("#region-closed").waitFor();
  assert.match(await page.locator("#region-closed").innerText(), /暂未开通/);
  assert.equal(await page.locator('input[name="banks"]').count(), 0);
  await fitsWidth(page);
  await shot(page, "14-region-closed");
  await context.close();
});

test("a form without its anti-forgery token changes nothing", async () => {
  const context = await browser.newContext({ viewport: PHONE_VIEWPORT });
  const page = await context.newPage();
  const person = await personOf(0);
  await page.goto(BASE + "/login");
  await page.locator('input[name="csrf"]').evaluate((input) => { input.value = "forged-forged-forged"; });
  await page.locator("#phone").fill(person.phone);
  await page.locator("#password").fill("chaka-2026!");
  await page.locator("#login-submit").click();
  await page.waitForLoadState();
  assert.equal(await page.locator('.problem[data-code="csrf"]').count(), 1);
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === "chaka_session"), "no session was opened");
  await context.close();
});

// The whole lookup of a cardholder on a 360 px phone screen, in Chinese: register, set the
// PIN, ask every bank, follow the progress live, two wrong PINs then the right one, the report
// against the population export, "not mine", log out; then the lock after 5 wrong PINs and
// the report deleted 7 days after it was generated.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE, PHONE_VIEWPORT, launch, register, setPin, login, agree, confirmAndSubmit, enterPin,
  pauseFanout, personOf, advance, shot, fitsWidth, smsTemplates, accessible,
} from "./support.mjs";

let browser;
let page;
let person;
let inquiryUrl;

before(async () => {
  browser = await launch();
  const context = await browser.newContext({ viewport: PHONE_VIEWPORT, locale: "zh-CN" });
  page = await context.newPage();
  person = await personOf(0);
});

after(async () => {
  await browser?.close();
});

test("a visitor sees what the service is and the anti-fraud warning", async () => {
  await page.goto(BASE + "/");
  assert.equal(await page.locator("html").getAttribute("lang"), "zh-CN");
  await page.locator("#fraud-warning").waitFor();
  assert.match(await page.locator("#fraud-warning").innerText(), /诈骗/);
  await fitsWidth(page);
  await accessible(page);
  await shot(page, "01-landing");
});

test("registering with the SMS code and the real-name check, then setting the PIN", async () => {
  await register(page, person);
  await shot(page, "02-pin");
  // A trivial PIN is refused with the reason, and nothing is set.
  await page.locator("#pin").fill("123456");
  await page.locator("#pin2").fill("123456");
  await page.locator("#pin-set-submit").click();
  await page.waitForLoadState();
  assert.match(await page.locator("#form-error").innerText(), /太简单/);
  await setPin(page);
  assert.match(await page.locator("#form-notice").innerText(), /支付密码已设置/);
  await page.locator("#go-ask").waitFor();
  await fitsWidth(page);
  await accessible(page);
  await shot(page, "03-home");
});

test("asking every bank: no personal field, the agreement gate, the SMS code", async () => {
  await page.locator("#go-ask").click();
  await page.waitForURL(BASE + "/ask");
  for (const name of ["name", "id_number", "phone", "card", "pan"]) {
    assert.equal(await page.locator(`input[name="${name}"]`).count(), 0, `the page asks for ${name}`);
  }
  const boxes = page.locator('input[name="banks"]');
  assert.equal(await boxes.count(), 7, "the seven banks open to Shanghai");
  await page.locator("#select-none").click();
  assert.equal(await page.locator('input[name="banks"]:checked').count(), 0);
  await page.locator("#select-all").click();
  assert.equal(await page.locator('input[name="banks"]:checked').count(), 7);
  assert.match(await page.locator("#selected-count").innerText(), /7/);
  await agree(page);
  await fitsWidth(page);
  await accessible(page);
  await shot(page, "04-ask");
  await pauseFanout(true);
  inquiryUrl = await confirmAndSubmit(page, person.phone);
  assert.ok((await smsTemplates(person.phone)).includes("lookup_requested"), "the 'lookup requested' SMS");
});

test("following the progress: it updates by itself, without reloading", async () => {
  const badges = page.locator('#progress [data-role="state"]');
  assert.equal(await badges.count(), 7);
  for (const text of await badges.allInnerTexts()) assert.equal(text, "等待答复");
  await shot(page, "05-progress");
  await page.evaluate(() => { window.stayedOnThePage = true; });
  await pauseFanout(false);
  await page.locator("#open-report .pinpad").waitFor({ timeout: 30000 });
  assert.equal(await page.evaluate(() => window.stayedOnThePage), true, "the page was not reloaded");
  for (const text of await badges.allInnerTexts()) assert.equal(text, "已答复");
  assert.match(await page.locator("#inquiry-state").innerText(), /报告已生成/);
  await accessible(page);
  assert.ok((await smsTemplates(person.phone)).includes("report_ready"), "the 'ready' SMS");
  await shot(page, "06-ready");
});

test("two wrong PINs show the tries left; the right one opens the report", async () => {
  await enterPin(page, "246810");
  assert.match(await page.locator("#form-error").innerText(), /还可尝试 4 次/);
  assert.match(await page.locator("#attempts").innerText(), /4/);
  await enterPin(page, "246810");
  assert.match(await page.locator("#form-error").innerText(), /还可尝试 3 次/);
  await enterPin(page, "902741");
  await page.locator("#summary").waitFor();
  await fitsWidth(page);
  await accessible(page);
  await shot(page, "07-report");
});

test("the report lists exactly the cards the population export says the banks list", async () => {
  const shown = await page.locator(".bank-section").evaluateAll((sections) =>
    sections.flatMap((s) =>
      Array.from(s.querySelectorAll(".card-row")).map((c) => `${s.dataset.bank} ${c.dataset.masked}`)));
  const expected = person.cards.map((c) => `${c.bank} ${c.masked}`);
  assert.ok(expected.length > 0, "person 0 has cards");
  assert.deepEqual([...shown].sort(), [...expected].sort());
  assert.equal(await page.locator("#total-cards").innerText(), String(expected.length));
  const debit = person.cards.filter((c) => c.kind === "debit" || c.kind === "prepaid").length;
  assert.equal(await page.locator("#total-debit").innerText(), String(debit));
  for (const pan of shown) assert.match(pan, /^[A-Z]+ \d{4}( \*{1,4})+ \d{4}$/, "masked as 6222 **** **** 1234");
  assert.match(await page.locator("#expires").innerText(), /剩余 7 天/);
  const html = await page.content();
  assert.ok(!html.includes(person.id_number), "no ID number on the report");
  assert.ok(!html.includes(person.phone), "no phone on the report");
});

test("reporting a card that is not mine records it and says to call the bank", async () => {
  const first = page.locator(".card-row").first();
  const masked = await first.getAttribute("data-masked");
  await first.locator(".not-mine").click();
  await page.locator("#not-mine-done").waitFor();
  assert.match(await page.locator("#not-mine-done").innerText(), new RegExp(masked.replaceAll("*", "\\*")));
  assert.match(await page.locator("#not-mine-done").innerText(), /客服电话/);
  await shot(page, "08-not-mine");
  await page.goto(inquiryUrl);
  await enterPin(page, "902741");
  const marked = page.locator(`.card-row[data-masked="${masked}"] .disputed`);
  assert.equal(await marked.count(), 1, "the mark shows when the report is opened again");
});

test("the account page: the identity masked, the sessions, password and phone forms", async () => {
  await page.goto(BASE + "/account");
  assert.match(await page.locator("#profile-phone").innerText(), /^\d{3}\*{4}\d{4}$/);
  assert.ok(!(await page.content()).includes(person.id_number), "the ID number is masked");
  assert.equal(await page.locator("#sessions li").count(), 1);
  await accessible(page);
  await fitsWidth(page);
  await shot(page, "08-account");
});

test("logging out ends the session", async () => {
  await page.goto(BASE + "/");
  await page.locator("#logout").click();
  await page.waitForURL(BASE + "/");
  await page.locator("#go-login").waitFor();
  await page.goto(inquiryUrl);
  await page.waitForURL(/\/login\?next=/);
});

test("five wrong PINs lock report opening, and the page says until when", async () => {
  await login(page, person.phone);
  await page.goto(inquiryUrl);
  for (let i = 0; i < 5; i += 1) await enterPin(page, "246810");
  await page.locator("#pin-locked").waitFor();
  assert.match(await page.locator("#pin-locked").innerText(), /锁定至 \d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
  assert.equal(await page.locator("#open-report .pinpad").count(), 0, "no pad while locked");
  await shot(page, "09-locked");
});

test("a report is deleted 7 days after it was generated", async () => {
  await advance(7 * 86400 + 3600);
  await login(page, person.phone);
  await page.goto(inquiryUrl);
  await page.locator("#report-gone").waitFor();
  await page.goto(BASE + "/");
  assert.match(await page.locator("#inquiries").innerText(), /报告已删除/);
  await shot(page, "10-deleted");
});

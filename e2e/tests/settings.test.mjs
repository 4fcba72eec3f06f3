// The account's settings in the browser: change and reset the PIN, see and end sessions,
// change the password and the phone number.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE, PHONE_VIEWPORT, PASSWORD, PIN, launch, register, setPin, login, personOf, advance,
  codeFor, accessible,
} from "./support.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("PIN change and reset, sessions, password and phone", async () => {
  const person = await personOf(6);
  const phone = await browser.newContext({ viewport: PHONE_VIEWPORT });
  const page = await phone.newPage();
  await register(page, person);
  await setPin(page);

  // Change the PIN: the old one is needed, and a wrong old one is refused.
  await page.goto(BASE + "/pin");
  await accessible(page);
  await page.locator("#old_pin").fill("111222");
  await page.locator("#new_pin").fill("730418");
  await page.locator("#new_pin2").fill("730418");
  await page.locator("#pin-change-submit").click();
  assert.match(await page.locator("#form-error").innerText(), /支付密码错误/);
  await page.locator("#old_pin").fill(PIN);
  await page.locator("#new_pin").fill("730418");
  await page.locator("#new_pin2").fill("730418");
  await page.locator("#pin-change-submit").click();
  await page.waitForURL(/done=pin_changed/);

  // Reset it: without the box ticked nothing happens; with the password and the code it does.
  await page.goto(BASE + "/pin");
  await page.locator("#reset_password").fill(PASSWORD);
  await advance(61);
  await page.locator("#reset-send-code").click();
  await page.locator("#form-notice").waitFor();
  const code = await codeFor(person.phone);
  await page.locator("#reset_password").fill(PASSWORD);
  await page.locator("#reset_code").fill(code);
  await page.locator("#reset_pin").fill("508163");
  await page.locator("#reset_pin2").fill("508163");
  await page.locator("#pin-reset-submit").click();
  assert.match(await page.locator("#form-error").innerText(), /勾选/);
  await page.locator("#reset_password").fill(PASSWORD);
  await page.locator("#reset_code").fill(code);
  await page.locator("#reset_pin").fill("508163");
  await page.locator("#reset_pin2").fill("508163");
  await page.locator("#reset-ack").check();
  await page.locator("#pin-reset-submit").click();
  await page.waitForURL(/done=pin_reset/);

  // A second device: it shows in the list, and can be signed out from here.
  const laptop = await browser.newContext({ viewport: PHONE_VIEWPORT });
  const other = await laptop.newPage();
  await login(other, person.phone);
  await page.goto(BASE + "/account");
  await accessible(page);
  assert.equal(await page.locator("#sessions li").count(), 2);
  await page.locator("#sessions .revoke").click();
  await page.waitForURL(BASE + "/account");
  assert.equal(await page.locator("#sessions li").count(), 1);
  await other.goto(BASE + "/account");
  await other.waitForURL(/\/login\?next=/);

  // The password: a wrong current one is refused; the new one works from then on.
  await page.locator("#old_password").fill("not-the-password-1");
  await page.locator("#new_password").fill("another-pass-2027");
  await page.locator("#password-submit").click();
  assert.match(await page.locator("#form-error").innerText(), /登录密码错误/);
  await page.locator("#old_password").fill(PASSWORD);
  await page.locator("#new_password").fill("another-pass-2027");
  await page.locator("#password-submit").click();
  await page.waitForURL(/done=password_changed/);

  // The phone: codes to the current and to the new number.
  const newPhone = "13512345678";
  await page.goto(BASE + "/account");
  await advance(61);
  await page.locator("#old-send-code").click();
  await page.locator("#form-notice").waitFor();
  const oldCode = await codeFor(person.phone);
  await page.locator("#new_phone").fill(newPhone);
  await advance(61);
  await page.locator("#new-send-code").click();
  await page.locator("#form-notice").waitFor();
  const newCode = await codeFor(newPhone);
  await page.locator("#phone_password").fill("another-pass-2027");
  await page.locator("#old_code").fill(oldCode);
  await page.locator("#new_phone").fill(newPhone);
  await page.locator("#new_code").fill(newCode);
  await page.locator("#phone-submit").click();
  await page.waitForURL(/done=phone_changed/);
  await page.goto(BASE + "/account");
  assert.equal(await page.locator("#profile-phone").innerText(), "135****5678");
  await phone.close();
  await laptop.close();
});

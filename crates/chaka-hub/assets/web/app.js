// chaka web app: the only script. It enhances server-rendered pages and never sees a PIN
// after the form is sent: live progress, the PIN pad, the agreement gate, the code countdown,
// select all/none. Every page works without it, except that the agreement's box stays off.
"use strict";
document.documentElement.classList.add("js");

function countdown(button) {
  let left = parseInt(button.dataset.wait || "0", 10);
  if (!(left > 0)) return;
  button.disabled = true;
  const tick = () => {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = button.dataset.again || button.dataset.label;
      return;
    }
    button.textContent = (button.dataset.again || "") + " (" + left + "s)";
    left -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}

function agreementGate() {
  const box = document.getElementById("agreement");
  const agree = document.getElementById("agree");
  if (!box || !agree) return;
  const hint = document.getElementById("agree-hint");
  const check = () => {
    if (box.scrollTop + box.clientHeight >= box.scrollHeight - 4) {
      agree.disabled = false;
      if (hint) hint.hidden = true;
    }
  };
  box.addEventListener("scroll", check, { passive: true });
  check();
}

function bankSelection() {
  const form = document.getElementById("ask-form");
  if (!form) return;
  const boxes = () => Array.from(form.querySelectorAll('input[name="banks"]'));
  const count = document.getElementById("selected-count");
  const update = () => {
    if (count) count.textContent = count.dataset.template.replace("{n}", boxes().filter((b) => b.checked).length);
  };
  form.querySelectorAll("[data-select]").forEach((button) => {
    button.addEventListener("click", () => {
      const on = button.dataset.select === "all";
      boxes().forEach((b) => { b.checked = on; });
      update();
    });
  });
  form.addEventListener("change", update);
  update();
}

function pinPad() {
  document.querySelectorAll(".pinpad").forEach((pad) => {
    const input = document.getElementById(pad.dataset.for);
    const dots = pad.parentElement.querySelectorAll(".pin-dots span");
    const show = () => dots.forEach((d, i) => d.classList.toggle("filled", i < input.value.length));
    pad.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.dataset.digit !== undefined && input.value.length < 6) input.value += button.dataset.digit;
      if (button.dataset.action === "back") input.value = input.value.slice(0, -1);
      if (button.dataset.action === "clear") input.value = "";
      show();
    });
    input.addEventListener("input", () => { input.value = input.value.replace(/\D/g, "").slice(0, 6); show(); });
    input.form.addEventListener("submit", () => { setTimeout(() => { input.value = ""; show(); }, 0); });
    show();
  });
}

// Once the lookup is final, the page's main part is fetched again and swapped in place (the
// page is not reloaded), which brings the PIN pad.
async function refreshMain() {
  const response = await fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) return;
  const next = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = next.getElementById("main");
  const main = document.getElementById("main");
  if (!fresh || !main) return;
  main.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
  pinPad();
  const heading = document.getElementById("open-report");
  if (heading) heading.focus();
}

function liveProgress() {
  const list = document.getElementById("progress");
  if (!list || list.dataset.state !== "open") return;
  const id = list.dataset.inquiry;
  const summary = document.getElementById("progress-summary");
  const poll = async () => {
    try {
      const response = await fetch("/api/v1/inquiries/" + encodeURIComponent(id), {
        credentials: "same-origin", headers: { accept: "application/json" }, cache: "no-store",
      });
      if (response.ok) {
        const body = await response.json();
        let answered = 0;
        for (const leg of body.progress) {
          const badge = list.querySelector('li[data-bank="' + CSS.escape(leg.bank) + '"] [data-role="state"]');
          if (badge) {
            badge.className = "badge state-" + leg.state;
            badge.textContent = list.getAttribute("data-t-" + leg.state) || leg.state;
          }
          if (leg.state === "answered") answered += 1;
        }
        if (summary) summary.textContent = summary.dataset.template.replace("{n}", answered).replace("{m}", summary.dataset.total);
        if (body.inquiry.state !== "open") { await refreshMain(); return; }
      }
    } catch (_) { /* the next poll tries again */ }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-wait]").forEach(countdown);
  agreementGate();
  bankSelection();
  pinPad();
  liveProgress();
});

// qbizfed chat page: conveniences on top of plain forms; the page works without them.
// (Feedback is a plain form post: the CSP has no connect-src, so no fetch() here.)
// - an unsent question survives a re-sign-in (kept in this tab's sessionStorage only);
// - the "credentials about to expire" notice appears on time, without a reload.
"use strict";
(() => {
  const PENDING = "qbizfed-chat-pending";

  function keepDraft(chat) {
    const form = document.getElementById("ask-form");
    const box = document.getElementById("message");
    if (!form || !box) return;
    const conversation = chat.dataset.conversation || "new";
    let pending = null;
    try { pending = JSON.parse(sessionStorage.getItem(PENDING) || "null"); } catch { pending = null; }
    if (pending && typeof pending.text === "string") {
      const asked = [...document.querySelectorAll(".message.user .user-text")]
        .some((node) => node.textContent.trim() === pending.text.trim());
      if (asked) {
        sessionStorage.removeItem(PENDING);
      } else if (pending.conversation === conversation && !box.value) {
        box.value = pending.text;
      }
    }
    form.addEventListener("submit", () => {
      sessionStorage.setItem(PENDING, JSON.stringify({ conversation, text: box.value }));
      const send = document.getElementById("send");
      if (send) { send.disabled = true; send.textContent = "Asking…"; }
    });
  }

  function watchExpiry() {
    const notice = document.getElementById("expiry-notice");
    if (!notice) return;
    const expiresAt = Date.parse(notice.dataset.expiresAt || "");
    const warnMs = Number(notice.dataset.warnSeconds || "300") * 1000;
    if (Number.isNaN(expiresAt)) return;
    const minutes = notice.querySelector(".minutes-left");
    const tick = () => {
      const left = expiresAt - Date.now();
      if (left <= warnMs) notice.hidden = false;
      if (minutes) minutes.textContent = String(Math.max(0, Math.floor(left / 60000)));
      if (left <= 0) {
        notice.classList.add("expired");
        return;
      }
      setTimeout(tick, Math.min(30000, Math.max(1000, left - warnMs)));
    };
    tick();
  }

  function confirmDeletes() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const chat = document.getElementById("chat");
    if (!chat) return;
    keepDraft(chat);
    watchExpiry();
    confirmDeletes();
    const latest = document.querySelector(".message[data-latest='true']");
    if (latest && location.hash === "#latest") latest.scrollIntoView({ block: "start" });
  });
})();

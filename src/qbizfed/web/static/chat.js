// qbizfed chat page: conveniences on top of plain forms; the page works without them.
// - answers stream: the ask form goes to POST /chat/stream with fetch(), and each
//   Server-Sent Event carries the answer so far as HTML that the server rendered and
//   sanitised (markdown-it-py + nh3); this script never turns model text into markup.
//   Stop aborts the request. Any non-stream reply falls back to the plain form post;
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
    const current = () => chat.dataset.conversation || "new"; // a streamed answer may set it
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
      sessionStorage.setItem(PENDING, JSON.stringify({ conversation: current(), text: box.value }));
      const send = document.getElementById("send");
      if (send) { send.disabled = true; send.textContent = "Asking…"; }
    });
  }

  // --- streamed answers ---------------------------------------------------------------

  function hiddenField(form, name) {
    let input = form.querySelector(`input[type=hidden][name="${name}"]`);
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    return input;
  }

  // The page gives the latest answer the plain #source-n anchors and earlier ones an
  // "a<k>-" prefix; a new answer arriving in place must shift the earlier ones the same way.
  function demoteEarlierAnswers(list) {
    const answers = [...list.querySelectorAll(".message.answer:not(.streaming)")];
    answers.forEach((answer, index) => {
      const prefix = `a${index + 1}-`;
      for (const source of answer.querySelectorAll(".sources li[id^='source-']")) {
        source.id = prefix + source.id;
      }
      for (const link of answer.querySelectorAll("a.citation[href^='#source-']")) {
        link.setAttribute("href", "#" + prefix + link.getAttribute("href").slice(1));
      }
    });
    for (const item of list.querySelectorAll("[data-latest]")) item.removeAttribute("data-latest");
  }

  function fromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html; // server-rendered and sanitised
    return template.content.firstElementChild;
  }

  function parseEvent(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // heartbeat comment
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (!data.length) return null;
    try { return { name, data: JSON.parse(data.join("\n")) }; } catch { return null; }
  }

  function streamAnswers(chat) {
    const form = document.getElementById("ask-form");
    const box = document.getElementById("message");
    const list = document.getElementById("messages");
    const send = document.getElementById("send");
    if (!form || !box || !list || !send || !window.fetch || !window.TextDecoder) return;
    const stop = document.createElement("button");
    stop.type = "button";
    stop.id = "stop";
    stop.textContent = "Stop";
    stop.hidden = true;
    send.after(stop);
    let controller = null;
    stop.addEventListener("click", () => { if (controller) controller.abort(); });

    form.addEventListener("submit", async (event) => {
      if (form.dataset.plain === "true") return; // the fallback: a normal form post
      event.preventDefault();
      const question = box.value.trim();
      if (!question) return;
      const body = new FormData(form);
      const files = form.querySelector("input[type=file]");
      const attached = Boolean(files && files.files && files.files.length);
      const hint = document.querySelector(".hint");
      if (hint) hint.hidden = true;
      for (const old of document.querySelectorAll("#chat-error, #chat-notice")) old.remove();
      const asked = document.createElement("li");
      asked.className = "message user";
      const who = document.createElement("p");
      who.className = "who";
      who.textContent = "You";
      const said = document.createElement("div");
      said.className = "user-text";
      said.textContent = question;
      asked.append(who, said);
      const answer = document.createElement("li");
      answer.className = "message answer streaming";
      answer.setAttribute("aria-busy", "true");
      answer.innerHTML = '<p class="who">Q Business</p><div class="answer"><p class="thinking">…</p></div>';
      demoteEarlierAnswers(list);
      list.append(asked, answer);
      box.value = "";
      send.disabled = true;
      stop.hidden = false;
      controller = new AbortController();
      const finish = () => {
        send.disabled = false;
        send.textContent = "Ask";
        stop.hidden = true;
        controller = null;
        answer.removeAttribute("aria-busy");
        sessionStorage.removeItem(PENDING);
      };
      const fail = (message, remedy, unsent) => {
        answer.classList.add("stopped");
        const box2 = document.createElement("div");
        box2.id = "chat-error";
        box2.className = "error-box";
        box2.setAttribute("role", "alert");
        const text = document.createElement("p");
        text.id = "chat-error-message";
        text.textContent = message;
        box2.append(text);
        if (remedy) {
          const fix = document.createElement("p");
          fix.className = "remedy";
          fix.textContent = "What to do: " + remedy;
          box2.append(fix);
        }
        list.after(box2);
        if (!box.value) box.value = unsent || question;
      };
      let response;
      try {
        const streamUrl = (form.dataset.streamAction || "/chat/stream") + new URL(form.action).search;
        response = await fetch(streamUrl, {
          method: "POST", body, credentials: "same-origin", signal: controller.signal,
          headers: { Accept: "text/event-stream" },
        });
      } catch {
        finish();
        fail("The question could not be sent.", "check the connection and ask again", question);
        return;
      }
      const type = response.headers.get("content-type") || "";
      if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
        // Signed out, refused, or an old server: let the plain form post handle it.
        asked.remove();
        answer.remove();
        box.value = question;
        form.dataset.plain = "true";
        form.requestSubmit ? form.requestSubmit() : form.submit();
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const content = answer.querySelector(".answer");
      let buffer = "";
      let ended = false;
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const parsed = parseEvent(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (!parsed) continue;
            if (parsed.name === "answer") {
              content.innerHTML = parsed.data.html; // sanitised on the server
            } else if (parsed.name === "done") {
              const item = fromHtml(parsed.data.item);
              if (item) answer.replaceWith(item);
              hiddenField(form, "conversation_id").value = parsed.data.conversationId;
              hiddenField(form, "parent_message_id").value = parsed.data.messageId || "";
              chat.dataset.conversation = parsed.data.conversationId;
              // The plain form names its conversation in its action (a signed-out post is
              // sent back to it without the body being read): keep that for the next turn.
              const action = new URL(form.action, location.href);
              action.searchParams.set("conversation_id", parsed.data.conversationId);
              form.action = action.pathname + action.search;
              if (parsed.data.path) {
                if (window.history) history.replaceState(null, "", parsed.data.path);
                const resignin = document.getElementById("resignin"); // back to this conversation
                if (resignin) {
                  const target = new URL(resignin.href, location.href);
                  target.searchParams.set("next", parsed.data.path);
                  resignin.href = target.pathname + target.search;
                }
              }
              ended = true;
              // Per-turn choices end with the turn, as after a plain post.
              const creator = document.getElementById("creator-mode");
              if (creator) creator.checked = false;
              if (files) files.value = "";
              // Files attached now belong to the conversation: show its page with them.
              if (attached && parsed.data.path) location.assign(parsed.data.path);
            } else if (parsed.name === "failed") {
              if (parsed.data.html) content.innerHTML = parsed.data.html;
              fail(parsed.data.message, parsed.data.remedy, parsed.data.unsent);
              ended = true;
            }
          }
        }
        if (!ended) fail("The answer was cut off.", "ask again", question);
      } catch (error) {
        if (error && error.name === "AbortError") {
          answer.classList.add("stopped");
          const note = document.createElement("p");
          note.className = "stopped-note";
          note.textContent = "Stopped.";
          answer.append(note);
        } else {
          fail("The answer was cut off.", "ask again", question);
        }
      } finally {
        finish();
      }
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
    streamAnswers(chat);
    watchExpiry();
    confirmDeletes();
    const latest = document.querySelector(".message[data-latest='true']");
    if (latest && location.hash === "#latest") latest.scrollIntoView({ block: "start" });
  });
})();

// The dashboard's only script: live refresh of the page's main part, and the actions.
// No framework, no CDN. Text from the server is inserted as server-escaped HTML only.
"use strict";

(function () {
  const PERIOD_MS = 3000;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const state = document.getElementById("live-state");
  let busy = false;

  function fragmentUrl() {
    const url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    return url.toString();
  }

  // swaps the main part for a fresh one, keeping what the user is doing: the actions card
  // (inputs, outcome) and which <details> are open
  async function refresh() {
    const main = document.getElementById("live");
    if (busy || document.hidden || !main) return;
    let text;
    try {
      const response = await fetch(fragmentUrl(), { credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      text = await response.text();
      state.textContent = "live";
      state.classList.remove("stale");
    } catch (error) {
      state.textContent = "offline";
      state.classList.add("stale");
      return;
    }
    if (text === main.dataset.last) return;
    main.dataset.last = text;
    const fresh = document.createElement("main");
    fresh.innerHTML = text;
    const opened = Array.from(main.querySelectorAll("details")).map((d) => d.open);
    const freshDetails = fresh.querySelectorAll("details");
    if (freshDetails.length === opened.length) {
      freshDetails.forEach((d, i) => { d.open = opened[i]; });
    }
    const keep = main.querySelector(".actions");
    const slot = fresh.querySelector(".actions");
    if (keep && slot) slot.replaceWith(keep);
    main.replaceChildren(...fresh.childNodes);
  }

  async function act(card, action, body, question) {
    const outcome = card.querySelector(".outcome");
    if (!window.confirm(question)) return;
    busy = true;
    outcome.className = "outcome";
    outcome.textContent = "sending…";
    try {
      const response = await fetch(card.dataset.href + "/" + action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: body,
      });
      const answer = await response.json();
      outcome.textContent = response.ok ? answer.outcome : "failed: " + answer.error;
      outcome.classList.add(response.ok ? "ok" : "ko");
    } catch (error) {
      outcome.textContent = "failed: " + error;
      outcome.classList.add("ko");
    } finally {
      busy = false;
      setTimeout(refresh, 300);
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const card = button.closest(".actions");
    act(card, button.dataset.action, "{}", button.dataset.confirm);
  });

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.signal");
    if (!form) return;
    event.preventDefault();
    const card = form.closest(".actions");
    const outcome = card.querySelector(".outcome");
    let value;
    try {
      value = JSON.parse(form.elements.value.value);
    } catch (error) {
      outcome.className = "outcome ko";
      outcome.textContent = "the value is not JSON: " + error.message;
      return;
    }
    const body = JSON.stringify({ channel: form.elements.channel.value, value: value });
    act(card, "signal", body, form.dataset.confirm);
  });

  if (document.getElementById("live") && !window.location.pathname.startsWith("/login")) {
    window.setInterval(refresh, PERIOD_MS);
  }
})();

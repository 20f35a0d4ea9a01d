"use strict";

document.getElementById("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const res = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: document.getElementById("token").value }),
  });
  if (!res.ok) {
    document.getElementById("error").textContent = "That is not the board's access token.";
    return;
  }
  const next = new URLSearchParams(location.search).get("next") || "/";
  window.location = next.startsWith("/") && !next.startsWith("//") ? next : "/";
});

// Starts Twain: loads the wasm app. A file of its own, not inline, so the page's Content-Security-Policy can refuse
// every inline script (see _headers).
import init from "/pkg/twain_client.js";

init({ module_or_path: "/pkg/twain_client_bg.wasm" }).catch((e) => {
  document.body.textContent = "Twain could not start in this browser: " + e;
});

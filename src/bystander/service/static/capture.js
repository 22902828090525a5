// The capture page: start a guarded session, show its protected preview, stop it.
async function startCapture(form) {
  const status = form.querySelector(".status"), img = document.getElementById("preview");
  const body = new FormData(form);
  if (!form.preview.checked) body.set("preview", "false");
  if (!form.sign.checked) body.set("sign", "false");
  const response = await fetch("/ui/api/capture/sessions", {method: "POST", body, headers: csrfHeaders(), credentials: "same-origin"});
  const job = await response.json();
  if (!response.ok) { status.textContent = job.detail; return; }
  const stop = document.getElementById("stop"); stop.disabled = false;
  stop.onclick = () => fetch(`/ui/api/capture/sessions/${job.id}/stop`, {method: "POST", headers: csrfHeaders(), credentials: "same-origin"});
  while (true) {
    const s = await (await fetch(`/ui/api/capture/sessions/${job.id}`, {headers: csrfHeaders(), credentials: "same-origin"})).json();
    const j = await (await fetch(`/ui/api/jobs/${job.id}`, {headers: csrfHeaders(), credentials: "same-origin"})).json();
    status.textContent = `session ${s.state}: ${s.released} released, ${s.withheld} withheld` + (s.fault ? `, fault ${s.fault}` : "") + ` · job ${j.state} ${j.message || ""}`;
    if (s.preview_frames) { img.hidden = false; img.src = `/ui/api/capture/sessions/${job.id}/preview.jpg?t=${Date.now()}`; }
    if (j.state === "done" || j.state === "failed") {
      stop.disabled = true;
      if (j.state === "done") { const a = document.createElement("a"); a.href = `/ui/api/jobs/${job.id}/files/recording`; a.textContent = "recording"; form.querySelector(".links").append(a); }
      return;
    }
    await new Promise(r => setTimeout(r, 300));
  }
}
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("capture");
  if (form) form.addEventListener("submit", (event) => { event.preventDefault(); startCapture(form); });
});

// The dashboard calls /ui/api with its session cookie and the session-bound CSRF token.
function csrfHeaders() {
  const meta = document.querySelector("meta[name=csrf]");
  return {"X-CSRF-Token": meta ? meta.content : ""};
}
// Poll a background job and show its progress; link its files when done.
async function followJob(jobId, bar, status, links) {
  while (true) {
    const response = await fetch(`/ui/api/jobs/${jobId}`, {headers: csrfHeaders(), credentials: "same-origin"});
    const job = await response.json();
    bar.value = job.progress; status.textContent = `${job.state} ${job.message || ""}`;
    if (job.state === "done") {
      for (const [name, file] of Object.entries(job.result.files || {})) {
        const a = document.createElement("a");
        a.href = `/ui/api/jobs/${jobId}/files/${name}`; a.textContent = `${name} (${file})`;
        links.append(a, " ");
      }
      const view = document.getElementById("view");
      if (view) {
        const a = document.createElement("a");
        a.href = view.value.replace("JOB", jobId); a.textContent = "view findings";
        links.append(a);
      }
      return;
    }
    if (job.state === "failed") return;
    await new Promise(r => setTimeout(r, 300));
  }
}
async function uploadAndFollow(form, url) {
  const bar = form.querySelector("progress"), status = form.querySelector(".status");
  const links = form.querySelector(".links");
  const response = await fetch(url, {method: "POST", body: new FormData(form), headers: csrfHeaders(), credentials: "same-origin"});
  const job = await response.json();
  if (!response.ok) { status.textContent = job.detail; return; }
  await followJob(job.id, bar, status, links);
}
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (form) form.addEventListener("submit", (event) => { event.preventDefault(); uploadAndFollow(form, form.dataset.url); });
});

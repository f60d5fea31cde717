// The rule editor: Type fills Protocol and Port range from the services
// table, Source fills the CIDR box, Add rule and Delete add and remove rows.
// Everything is also checked on the server; this only saves typing.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (e) => { if (!confirm(f.dataset.confirm)) e.preventDefault(); });
  }
  const form = document.getElementById("editor");
  if (!form) return;
  const types = {};
  for (const t of JSON.parse(document.getElementById("types").textContent)) types[t.name] = t;
  const myIP = form.dataset.myip;
  const fillType = (row) => {
    const t = types[row.querySelector(".type").value];
    if (!t) return;
    const proto = row.querySelector(".protocol"), ports = row.querySelector(".ports");
    if (t.name !== "Custom protocol") proto.value = t.protocol;
    proto.readOnly = t.name !== "Custom protocol";
    if (!t.custom) ports.value = t.ports;
    ports.readOnly = !t.custom;
  };
  const fillSource = (row) => {
    const kind = row.querySelector(".source-kind").value, src = row.querySelector(".source");
    const fixed = { "anywhere-ipv4": "0.0.0.0/0", "anywhere-ipv6": "::/0", "my-ip": myIP }[kind];
    if (fixed !== undefined) src.value = fixed;
    src.readOnly = kind !== "custom";
  };
  const wire = (row) => {
    row.querySelector(".type").addEventListener("change", () => fillType(row));
    row.querySelector(".source-kind").addEventListener("change", () => fillSource(row));
    row.querySelector(".delete").addEventListener("click", () => row.remove());
    fillType(row);
    fillSource(row);
  };
  const rows = document.getElementById("rows");
  for (const row of rows.querySelectorAll("tr.rule")) wire(row);
  document.getElementById("addrule").addEventListener("click", () => {
    const row = document.getElementById("newrow").content.firstElementChild.cloneNode(true);
    rows.appendChild(row);
    wire(row);
    row.querySelector(".type").focus();
  });
});

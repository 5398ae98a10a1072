// Barcode scanners type the ID and press Enter: move to the next field instead of submitting half a form, and look
// the ID up: a patient the cart knows fills in name, sex and birth date (fields the user typed are kept).
(function () {
  function fill(id, value) {
    var el = document.getElementById(id);
    if (el && value && (!el.value || el.value === 'U')) { el.value = value; }
  }
  function lookUp(el) {
    var url = el.dataset.lookup, pid = el.value.trim();
    if (!url || !pid || el.dataset.looked === pid) { return; }
    el.dataset.looked = pid;
    fetch(url + '?patient_id=' + encodeURIComponent(pid), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : { found: false }; })
      .then(function (p) {
        var note = document.getElementById('patient-known');
        if (!p.found) { if (note) { note.classList.add('hidden'); } return; }
        fill('patient_name', p.name); fill('sex', p.sex); fill('birth_date', p.birth_date);
        if (note) { note.textContent = note.dataset.text.replace('{name}', p.name || p.patient_id); note.classList.remove('hidden'); }
        document.body.dataset.patientKnown = p.patient_id;
      })
      .catch(function () { /* the form still works by hand */ });
  }
  document.querySelectorAll('input[data-barcode]').forEach(function (el) {
    el.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        el.value = el.value.trim();
        lookUp(el);
        var next = document.getElementById('patient_name');
        if (next) { next.focus(); }
      }
    });
    el.addEventListener('change', function () { lookUp(el); });
  });
})();

// Barcode scanners type the ID and press Enter: move to the next field instead of submitting half a form.
(function () {
  document.querySelectorAll('input[data-barcode]').forEach(function (el) {
    el.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        el.value = el.value.trim();
        var next = document.getElementById('patient_name');
        if (next) { next.focus(); }
      }
    });
  });
})();

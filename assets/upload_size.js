// dcc.Upload drops a file larger than its max_size without a word to Dash (plotly/dash#2638),
// so the page would show nothing: say it here, in the words the server uses for other limits.
(function () {
    function check(files, box) {
        const note = document.getElementById(box.dataset.noteId);
        if (!note || !files || !files.length) { return; }
        const limit = Number(box.dataset.maxBytes);
        const file = files[0];
        if (file.size > limit) {
            const mb = (file.size / 1e6).toFixed(1);
            note.innerHTML = '';
            const alert = document.createElement('div');
            alert.className = 'alert alert-danger mb-0';
            alert.textContent = file.name + ' is ' + mb + ' MB; the limit is ' + Math.round(limit / 1e6) + ' MB';
            note.appendChild(alert);
        } else {
            note.innerHTML = '';
        }
    }
    function box(target) { return target && target.closest ? target.closest('[data-max-bytes]') : null; }
    document.addEventListener('change', function (e) {
        const b = box(e.target);
        if (b && e.target.files) { check(e.target.files, b); }
    }, true);
    document.addEventListener('drop', function (e) {
        const b = box(e.target);
        if (b && e.dataTransfer) { check(e.dataTransfer.files, b); }
    }, true);
})();

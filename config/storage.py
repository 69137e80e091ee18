"""Static files: hashed names and precompressed copies (WhiteNoise), collected into the image."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's storage: collectstatic writes each file under a name with its content's hash
    (so browsers may keep it for a year) and a gzip copy beside it, which WhiteNoise sends to a
    browser that accepts gzip (brotli copies too, were the Brotli package installed).

    Without a manifest, where collectstatic has not run (the tests, the drills' servers, a laptop
    that only ran `make run`), `{% static %}` gives the plain name instead of failing: WhiteNoise
    then serves the file from the app's directory (DEBUG) or not at all, as before. With a
    manifest, a name missing from it is an error, as in Django's own storage.
    """

    # CSS url() references are rewritten to hashed names; JavaScript's sourceMappingURL is
    # not: the vendored Chart.js names a source map that is not shipped, and a reference to a
    # missing file fails collectstatic.
    patterns = tuple(
        (glob, rules)
        for glob, rules in CompressedManifestStaticFilesStorage.patterns
        if glob != "*.js"
    )

    def stored_name(self, name: str) -> str:
        if not self.hashed_files:
            return name
        return super().stored_name(name)

"""Static files in production: WhiteNoise's compressed, hashed storage, ES modules included."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Also rewrites `import … from './x.js'` in our ES modules to the hashed names.

    Without it, a hashed chat.<hash>.js (cached for a year) would import the unhashed
    ./socket.js, which can lag behind a deployment or mix two versions of the UI.
    https://docs.djangoproject.com/en/6.1/ref/contrib/staticfiles/#manifeststaticfilesstorage
    """

    support_js_module_import_aggregation = True

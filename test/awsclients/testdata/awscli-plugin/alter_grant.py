"""An AWS CLI plugin that adds the grant marker to every request, as an
application would: the CLI has no option for extra headers. Loaded through
the [plugins] section of the test's AWS_CONFIG_FILE."""
import os


def awscli_initialize(cli):
    cli.register("before-send", _mark)


def _mark(request, **kwargs):
    request.headers["X-Alter-Grant"] = os.environ["ALTER_GRANT"]

"""Our exception types: raised at the boundary and turned into clear messages by the CLI and API."""


class MleError(Exception):
    """Base class: the message says what is wrong and how to fix it."""


class SourceError(MleError):
    """A data source (path or URL) cannot be read."""


class DataValidationError(MleError):
    """Input data does not have the shape or values we need."""


class ConfigError(MleError):
    """A parameter file or setting is invalid."""


class RegistryError(MleError):
    """A model or bento is missing from the store, or the store cannot be used."""


class BuildError(MleError):
    """Building a bento or a container image failed."""

"""The exceptions crmkit raises, all subclasses of :class:`CrmError`.

They are defined in the native module and mapped once from the Rust errors' kinds:

- :class:`NotFoundError`: a customer, model version, column... does not exist;
- :class:`ConflictError`: a duplicate identity key, a concurrent update, a field type clash;
- :class:`ValidationError`: bad input; the message names the field or column and the problem;
- :class:`StorageError`: the database or the file system failed.

>>> import crmkit
>>> issubclass(crmkit.ValidationError, crmkit.CrmError)
True
"""

from ._crmkit import ConflictError, CrmError, NotFoundError, StorageError, ValidationError

__all__ = ["CrmError", "NotFoundError", "ConflictError", "ValidationError", "StorageError"]

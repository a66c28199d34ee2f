"""The model store (checked files with a manifest) and the model manager (several models
resident at once within a memory budget). See docs/models.md."""
from appliance.models.errors import InsufficientMemory, ModelNotFound, ModelNotLoaded, StoreError
from appliance.models.manager import LoadedInfo, ModelManager
from appliance.models.store import ModelEntry, ModelStore

__all__ = ["InsufficientMemory", "LoadedInfo", "ModelEntry", "ModelManager", "ModelNotFound", "ModelNotLoaded",
           "ModelStore", "StoreError"]

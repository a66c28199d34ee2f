"""The model manager: several models resident at once, each holding a reservation.

A load is planned first (engine/planner.py): weights at the chosen quantization, the engine's
KV pool (ModelsSettings.kv_cache_bytes) and the step workspace. The sum is reserved from the
budget (device memory x memory_budget_fraction, or memory_budget_bytes); a load that does not
fit is refused before any weight moves. Loads and unloads are serialized by one lock, held
while weights load; requests only take a short lock to look an engine up, so serving goes on
while another model loads.
"""
from __future__ import annotations

import gc
import re
import logging
import threading
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import Config, SpeculationSettings
from appliance.models.drafting import draft_bytes, draft_path, draft_request
from appliance.models.errors import InsufficientMemory, ModelNotLoaded, StoreError
from appliance.models.memory import resolve_device, total_memory
from appliance.models.plan_report import PlanReport
from appliance.models.store import ModelStore
from engine import planner
from engine.config import KV_DTYPES

QUANTIZATION_CHOICES = ("auto",) + planner.PRECISIONS
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDING_MODEL_DIR = "all-MiniLM-L6-v2"
log = logging.getLogger("airlock")


@dataclass(slots=True)
class LoadedInfo:
    name: str
    quantization: str
    device: str
    kv_dtype: str                   # what the KV cache holds
    weight_bytes: int               # what the loaded model holds
    kv_bytes: int                   # the engine's KV pool
    reservation: int                # the planned total taken from the budget
    load_seconds: float
    loaded_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class _Resident:
    engine: Any
    info: LoadedInfo
    shape: planner.ModelShape
    speculation: SpeculationSettings


class ModelManager:
    def __init__(self, config: Config, store: ModelStore | None = None, ledger: Any = None) -> None:
        self.config = config   # [models] is validated at load (appliance/config.py ModelsSettings)
        self.store = store or ModelStore(config.store_path)
        self.ledger = ledger            # held for the services; the manager itself records nothing
        self.device = resolve_device(config.models.device)
        self.device_memory = total_memory(self.device)
        self.budget_bytes = config.models.memory_budget_bytes or self._device_budget()
        self._load_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._resident: dict[str, _Resident] = {}

    # -- lookups (request path) ---------------------------------------------------------

    def get(self, name: str) -> Any:
        with self._state_lock:
            resident = self._resident.get(name)
            if resident is None:
                raise ModelNotLoaded(name, sorted(self._resident))
            return resident.engine

    def loaded(self) -> list[LoadedInfo]:
        with self._state_lock:
            return [r.info for r in self._resident.values()]

    def reserved_bytes(self) -> int:
        return sum(info.reservation for info in self.loaded())

    @property
    def free_bytes(self) -> int:
        return self.budget_bytes - self.reserved_bytes()

    # -- load and unload ----------------------------------------------------------------

    def resolve_quantization(self, quantization: str = "auto") -> str:
        if quantization == "auto":
            quantization = self.config.models.default_quantization
        if quantization == "auto":
            # CPU: the fastest precision within engine/precision.py's quality bound (bf16 with
            # AMX, else fp32); int8 is faster but measurably less accurate, so opt-in
            return "fp16" if self.device.startswith("cuda") else _auto_cpu_precision()
        if quantization not in planner.PRECISIONS:
            raise ValueError(f"quantization must be one of {', '.join(QUANTIZATION_CHOICES)}, got {quantization!r}")
        if quantization == "nf4" and not self.device.startswith("cuda"):
            raise ValueError("quantization nf4 needs an NVIDIA GPU (bitsandbytes); use int8 on CPU")
        return quantization

    def reservation(self, name: str, quantization: str) -> int:
        """Bytes a load of `name` at `quantization` takes from the budget (with its drafting model)."""
        shape = planner.ModelShape.from_config(self.store.get(name).config)
        engine_config = self._engine_config()
        return (planner.weight_bytes(shape, quantization, self.device) + engine_config.kv_cache_bytes
                + planner.overhead_bytes(shape, self.device, engine_config.max_num_seqs,
                                         engine_config.max_num_batched_tokens)
                + self._draft_bytes(shape, self.kv_dtype(quantization), self.config.speculation))

    # -- speculation ----------------------------------------------------------------------

    def speculation(self, name: str) -> SpeculationSettings:
        with self._state_lock:
            return self._resident_or_raise(name).speculation

    def set_speculation(self, name: str, settings: SpeculationSettings) -> None:
        """Apply settings to a loaded model. A new drafting model loads now (the engine serves on
        meanwhile) and its memory is reserved; refused if it does not fit."""
        with self._load_lock:
            with self._state_lock:
                resident = self._resident_or_raise(name)
            info = resident.info
            extra = (self._draft_bytes(resident.shape, info.kv_dtype, settings)
                     - self._draft_bytes(resident.shape, info.kv_dtype, resident.speculation))
            if extra > self.free_bytes:
                raise InsufficientMemory(f"{name}'s drafting model", extra, self.free_bytes, self.budget_bytes)
            resident.engine.set_speculation(settings.engine_config(draft_path(self.store, settings)))
            resident.speculation = settings
            info.reservation += extra

    def _draft_bytes(self, shape: planner.ModelShape, kv_dtype: str, settings: SpeculationSettings) -> int:
        return draft_bytes(self.store, settings, self.device, shape, kv_dtype, self.config.models.kv_cache_bytes)

    def _resident_or_raise(self, name: str) -> _Resident:
        resident = self._resident.get(name)
        if resident is None:
            raise ModelNotLoaded(name, sorted(self._resident))
        return resident

    def load(self, name: str, quantization: str = "auto", kv_dtype: str = "auto", alias: str = "") -> LoadedInfo:
        """Load `name` from the store and start its engine; refused if it does not fit. With an
        alias it is served under that name instead: one stored model at two precisions (tiers)."""
        quantization = self.resolve_quantization(quantization)
        kv_dtype = self.resolve_kv_dtype(kv_dtype, quantization)
        served = _served_name(name, alias, self.store)
        with self._load_lock:
            current = self._info(served)
            if current is not None:
                if (current.quantization, current.kv_dtype) == (quantization, kv_dtype):
                    return current
                raise ValueError(f"model {served!r} is loaded as {current.quantization} with its KV cache "
                                 f"in {current.kv_dtype}; unload it first")
            entry = self.store.get_verified(name)
            needed = self.reservation(name, quantization)
            if needed > self.free_bytes:
                raise InsufficientMemory(name, needed, self.free_bytes, self.budget_bytes)
            shape = planner.ModelShape.from_config(entry.config)
            resident = self._start(served, entry.model_path, quantization, kv_dtype, needed, shape)
            self._record_conversion(name)
            with self._state_lock:
                self._resident[served] = resident
            return resident.info

    def unload(self, name: str) -> LoadedInfo:
        """Stop the model's engine (aborting its requests) and free its reservation."""
        with self._load_lock:
            with self._state_lock:
                resident = self._resident.pop(name, None)
                if resident is None:
                    raise ModelNotLoaded(name, sorted(self._resident))
            resident.engine.shutdown(abort_running=True)
            del resident.engine
            _release_memory(self.device)
            return resident.info

    def shutdown(self) -> None:
        for info in self.loaded():
            self.unload(info.name)

    def ensure_default(self) -> LoadedInfo:
        """Import the embedded default model if the store lacks it, then load it."""
        name = self.config.models.default_model
        if name not in self.store:
            with self._load_lock:
                if name not in self.store:
                    self.store.import_path(self.default_model_file(), name=name)
        return self.load(name)

    def ensure_embedding(self) -> Path | None:
        """Import the sentence-embedding model shipped beside the default model, if the store
        lacks it; the path it is served from (the shipped directory where the store refuses
        it), or None when neither holds it."""
        name, shipped = self.config.models.embedding_model, self.embedding_model_dir()
        if name not in self.store and (shipped / "config.json").is_file():
            with self._load_lock:
                try:
                    if name not in self.store:
                        self.store.import_path(shipped, name=name)
                except StoreError as exc:
                    log.info("serving embeddings from %s (not imported: %s)", shipped, exc)
        return self.embedding_model_path()

    def embedding_model_path(self) -> Path | None:
        name, shipped = self.config.models.embedding_model, self.embedding_model_dir()
        if name in self.store:
            return self.store.get_verified(name).model_path
        return shipped if (shipped / "config.json").is_file() else None

    def embedding_model_dir(self) -> Path:
        return Path(self.config.data_dir) / "models" / EMBEDDING_MODEL_DIR

    def default_model_file(self) -> Path:
        configured = self.config.models.default_model_file
        return Path(configured) if configured else Path(self.config.data_dir) / "models" / DEFAULT_MODEL_FILE

    # -- planning -----------------------------------------------------------------------

    def plan(self, model: str | None = None, *, config: dict[str, Any] | None = None,
             quantization: str = "auto", kv_dtype: str | None = None, context_length: int | None = None,
             concurrency: int = 1) -> PlanReport:
        """What `model` (from the store) or a bare config.json needs, with the what-if table."""
        if (model is None) == (config is None):
            raise ValueError("give either a model name from the store or a config.json object")
        shape = planner.ModelShape.from_config(config if config is not None else self.store.get(model).config)
        quantization = self.resolve_quantization(quantization) if quantization == "auto" else quantization
        engine_config = self._engine_config()
        request = planner.PlanRequest(
            quantization=quantization, kv_dtype=kv_dtype or self.kv_dtype(quantization),
            context_length=shape.max_context if context_length is None else context_length,
            concurrency=concurrency, budget_bytes=self.budget_bytes, device=self.device, block_size=engine_config.block_size,
            step_tokens=engine_config.max_num_batched_tokens,
            draft=draft_request(self.store, self.config.speculation, self.device))
        return PlanReport.build(shape, request, model=model, device_memory=self.device_memory,
                                free_bytes=self.free_bytes)

    def kv_dtype(self, quantization: str) -> str:
        """The KV dtype a load at `quantization` gets by default: models.kv_dtype, and where that
        is auto, the planner's default (the compute precision; fp16 for int8 on CPU)."""
        configured = self.config.models.kv_dtype
        return planner.default_kv_dtype(quantization, self.device) if configured == "auto" else configured

    def resolve_kv_dtype(self, kv_dtype: str, quantization: str) -> str:
        kv_dtype = self.kv_dtype(quantization) if kv_dtype == "auto" else kv_dtype
        if kv_dtype not in KV_DTYPES:
            raise ValueError(f"kv_dtype must be auto or one of {', '.join(KV_DTYPES)}, got {kv_dtype!r}"
                             + (" (fp8 is a planning what-if only)" if kv_dtype == "fp8" else ""))
        return kv_dtype

    # -- internals ----------------------------------------------------------------------

    def _device_budget(self) -> int:
        if self.device_memory is None:
            raise ValueError(f"cannot read the memory of {self.device} (no NVIDIA GPU visible there); "
                             "set models.memory_budget_bytes to plan for it")
        return int(self.device_memory * self.config.models.memory_budget_fraction)

    def _info(self, name: str) -> LoadedInfo | None:
        with self._state_lock:
            resident = self._resident.get(name)
            return resident.info if resident else None

    def _engine_config(self) -> Any:
        from engine.config import EngineConfig
        scheduler = self.config.scheduler
        return EngineConfig(
            max_num_seqs=scheduler.max_num_seqs, max_num_batched_tokens=scheduler.max_num_batched_tokens,
            max_prefill_chunk=scheduler.max_prefill_chunk, slo_ttft_p95=scheduler.slo_ttft_p95_seconds,
            slo_itl_p95=scheduler.slo_itl_p95_seconds,
            kv_cache_bytes=self.config.models.kv_cache_bytes, max_waiting=self.config.server.max_waiting,
            cache=self.config.cache.prefix_policy(),
            speculation=self.config.speculation.engine_config())

    def _record_conversion(self, name: str) -> None:
        try:
            self.store.record_conversion(name)
        except OSError as exc:   # a read-only store: the next load re-converts, nothing is refused
            log.warning("model %r: its conversion cache is not listed in the manifest: %s", name, exc)

    def _start(self, name: str, path: Path, quantization: str, kv_dtype: str, reservation: int,
               shape: planner.ModelShape) -> _Resident:
        from engine.llm_engine import Engine
        from engine.loader import load_model
        started = time.perf_counter()
        model = load_model(path, device=self.device, name=name, precision=quantization)
        settings = self.config.speculation       # a draft model's files are verified here, once per load
        speculation = settings.engine_config(draft_path(self.store, settings))
        engine = Engine(model, dataclasses.replace(self._engine_config(), kv_dtype=kv_dtype, speculation=speculation))
        info = LoadedInfo(name=name, quantization=quantization, device=self.device, kv_dtype=kv_dtype,
                          weight_bytes=int(model.weight_bytes()), kv_bytes=_kv_pool_bytes(engine),
                          reservation=reservation, load_seconds=time.perf_counter() - started)
        return _Resident(engine=engine, info=info, shape=shape, speculation=self.config.speculation)


def _served_name(name: str, alias: str, store: ModelStore) -> str:
    if not alias or alias == name:
        return name
    if not isinstance(alias, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", alias):
        raise ValueError(f"alias must be a name of letters, digits, '.', '_', ':' or '-', got {alias!r}")
    if alias in store:
        raise ValueError(f"alias {alias!r} is the name of another model in the store")
    return alias



def _auto_cpu_precision() -> str:
    from engine.cpu_isa import cpu_isa
    from engine.precision import auto_cpu_precision
    return auto_cpu_precision(cpu_isa())


def _kv_pool_bytes(engine: Any) -> int:
    return engine.runner.kv_cache.nbytes


def _release_memory(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch
        torch.cuda.empty_cache()

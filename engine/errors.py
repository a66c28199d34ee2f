"""Errors the engine raises; the API maps each to an OpenAI error response."""


class EngineError(Exception):
    """Base class for every error the engine reports to its callers."""


class InvalidParameter(EngineError, ValueError):
    """A request parameter is out of range; `param` names it (OpenAI's `param` field)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


class ContextLengthExceeded(InvalidParameter):
    """Prompt tokens plus max_tokens exceed the model's context window."""

    def __init__(self, prompt_tokens: int, max_tokens: int, max_model_len: int) -> None:
        super().__init__(
            "max_tokens",
            f"This model's maximum context length is {max_model_len} tokens; the request has "
            f"{prompt_tokens} prompt tokens and asks for {max_tokens} completion tokens "
            f"({prompt_tokens + max_tokens} in all).",
        )
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.max_model_len = max_model_len


class QueueFull(EngineError):
    """The bounded waiting queue is full; the caller should retry after `retry_after` seconds."""

    def __init__(self, waiting: int, limit: int, retry_after: float = 1.0) -> None:
        super().__init__(f"The server is at capacity: {waiting} requests waiting (limit {limit}).")
        self.retry_after = retry_after


class ModelLoadError(EngineError):
    """A model file or directory cannot be loaded; the message names the path and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class EngineStopped(EngineError):
    """The engine was shut down (or its model unloaded) while the request was pending."""

"""The request bodies of the OpenAI endpoints and of the simple admin actions, as pydantic
models: every type and bound is stated here once; the routes read their body with
`validation.parse`, and /openapi.json publishes these models' JSON schemas.

Checks that need the model being served stay with the request: a token id's vocabulary,
the prompt's length against the context window, an unknown model (404).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from appliance.api.validation import Body, one_of

MAX_PROMPTS = 64       # prompts of one /v1/completions batch
MAX_INPUTS = 2048      # texts of one /v1/embeddings request
MAX_STOP_CHARS = 200   # each stop string is searched for in the text after every step

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
TokenIds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]


def _refuse(value: Any) -> Any:
    """Fields that would change the answer if honoured are refused rather than silently ignored
    (an empty value, or "none", asks for nothing and is fine)."""
    if value not in ({}, [], "none", False):
        raise PydanticCustomError("unsupported_parameter",
                                  "is not supported by this server; remove it from the request")
    return value


def _unsupported(value: Any) -> Any:
    """echo and suffix of /v1/completions: only their empty value is served."""
    if value:
        raise PydanticCustomError("unsupported_parameter", "is not supported")
    return value


Refused = SkipJsonSchema[Annotated[Any, AfterValidator(_refuse)]]
StopText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STOP_CHARS)]
Stop = one_of("must be a string or an array of strings", {
    "string": StopText, "array": Annotated[list[StopText], Field(max_length=4)]})


class StreamOptions(Body):
    include_usage: bool = Field(False, description="a last chunk with the usage and no choices")


class Sampling(Body):
    """The fields chat and completions share."""
    model: str = Field(description="a loaded model, or a route that picks one")
    temperature: float = Field(1.0, ge=0, le=2, description="0 means greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0, description="0 means no top-k cut")
    seed: int | None = Field(None, description="the same seed gives the same text")
    presence_penalty: float = Field(0.0, ge=-2, le=2)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    stop: Stop = Field([], description="up to 4 strings that end a choice")
    n: int = Field(1, ge=1, le=16, description="choices per prompt")
    stream: bool = False
    stream_options: StreamOptions | None = Field(None, description="only with stream")
    user: str | None = None
    ignore_eos: bool = Field(False, description="Airlock: generate max_tokens tokens whatever the model says")
    speculative: bool = Field(True, description="Airlock: false opts this request out of speculative decoding")
    logit_bias: Refused = None
    tools: Refused = None
    tool_choice: Refused = None
    functions: Refused = None
    function_call: Refused = None
    parallel_tool_calls: Refused = None

    @field_validator("stream_options")
    @classmethod
    def _only_when_streaming(cls, options: StreamOptions, info: ValidationInfo) -> StreamOptions:
        if options.model_fields_set and not info.data.get("stream"):
            raise PydanticCustomError("invalid_value", "is only allowed when stream is true")
        return options

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


class TextPart(Body):
    type: Literal["text"]
    text: str


Content = one_of("must be a string or an array of text parts ({'type': 'text', 'text': ...})",
                 {"string": str, "array": list[TextPart]})


class Message(Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Content = ""

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)

    def for_template(self) -> dict[str, str]:
        """The message as the chat template takes it (a developer message is a system message)."""
        return {"role": "system" if self.role == "developer" else self.role, "content": self.text}


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, description="wins over max_tokens")
    max_tokens: int | None = Field(None, ge=1, description="default: the rest of the context window")
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20, description="only with logprobs")

    @field_validator("top_logprobs")
    @classmethod
    def _only_with_logprobs(cls, top: int, info: ValidationInfo) -> int:
        if not info.data.get("logprobs"):
            raise PydanticCustomError("invalid_value", "requires logprobs to be true")
        return top

    @property
    def asked_max_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    @property
    def top(self) -> int | None:
        """The engine's logprobs: None for none, else how many alternatives per token."""
        return (self.top_logprobs or 0) if self.logprobs else None


def _prompt_kind(prompt: Any) -> str | None:
    """A string, an array of token ids, or an array of prompts (strings or token-id arrays)."""
    if isinstance(prompt, str):
        return "string"
    if not isinstance(prompt, list):
        return None
    if any(isinstance(p, (str, list)) for p in prompt):
        return "batch"
    return "ids"


PromptItem = one_of("must be a non-empty string or a non-empty array of token ids",
                    {"string": NonEmpty, "array": TokenIds})
Prompt = one_of("must be a string, an array of token ids, or an array of such prompts", {
    "string": NonEmpty, "ids": TokenIds,
    "batch": Annotated[list[PromptItem], Field(min_length=1, max_length=MAX_PROMPTS)]}, _prompt_kind)


class CompletionRequest(Sampling):
    prompt: Prompt = Field(description=f"One prompt, or a batch of up to {MAX_PROMPTS}: "
                                       "prompt i's choice j is choice i * n + j.")
    max_tokens: int = Field(16, ge=1)
    logprobs: int | None = Field(None, ge=0, le=5, description="alternatives per token")
    echo: Annotated[bool, AfterValidator(_unsupported)] = Field(False, description="true is not supported")
    suffix: Annotated[str, AfterValidator(_unsupported)] = Field("", description="not supported")
    best_of: int | None = Field(None, description="only equal to n")

    @property
    def asked_max_tokens(self) -> int | None:
        """max_tokens as the client sent it (None: not given), which route rules read."""
        return self.max_tokens if "max_tokens" in self.model_fields_set else None

    @field_validator("best_of")
    @classmethod
    def _same_as_n(cls, best_of: int, info: ValidationInfo) -> int:
        if best_of != info.data.get("n", 1):
            raise PydanticCustomError("unsupported_parameter", "other than n is not supported")
        return best_of

    @property
    def prompts(self) -> list[str | list[int]]:
        """The prompts of the request: one, or each of a batch."""
        return list(self.prompt) if _prompt_kind(self.prompt) == "batch" else [self.prompt]


Input = one_of("must be a non-empty string or a non-empty array of non-empty strings", {
    "string": NonEmpty, "array": Annotated[list[NonEmpty], Field(min_length=1, max_length=MAX_INPUTS)]})


class EmbeddingRequest(Body):
    model: str
    input: Input
    encoding_format: Literal["float", "base64"] = "float"

    @property
    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


# -- admin actions whose body is a few plain fields ---------------------------------------------

class ModelRef(Body):
    model: str
    quantization: str = "auto"
    kv_dtype: str = "auto"
    alias: str = Field("", description="serve the stored model under this name (a second tier)")


class ImportRequest(Body):
    path: str
    name: str | None = None


class PlanRequest(Body):
    """Either a stored `model` or a `config` (a config.json object)."""
    model: str | None = None
    config: dict[str, Any] | None = None
    quantization: str = "auto"
    context: int | None = None
    concurrency: int = 1


class RouteTest(Body):
    model: str = Field(description="a route's name")
    prompt: str
    max_tokens: int | None = None

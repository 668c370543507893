"""What the API reads and writes: field types and shapes only; the rules live in the regression services.

Input serializers (``...RequestSerializer``, ``...QuerySerializer``, the batch bodies) check
types; output serializers render what selectors return.
"""
from __future__ import annotations

import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from salsaweb.regression.models import Batch, BatchRun, Dataset
from salsaweb.regression.modes import DEFAULT_MODES, Mode

#: Most rows one prediction request may carry.
MAX_PREDICT_ROWS = 10_000
#: Name a JSON batch is recorded under (a batch's ``source``).
JSON_ROWS_SOURCE = "rows.json"


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such values are sent as null."""
    return float(value) if value is not None and math.isfinite(value) else None


@extend_schema_field({"type": "number", "format": "double", "nullable": True})
class FiniteFloatField(serializers.FloatField):
    """A float that renders non-finite values as null."""

    def to_representation(self, value: Any) -> float | None:
        """The float, or None when it is NaN or infinite."""
        return finite_or_none(None if value is None else float(value))


class FeatureWeightsField(serializers.DictField):
    """{feature: weight}, non-finite weights as null."""

    child = FiniteFloatField(allow_null=True)


class TokenRequestSerializer(serializers.Serializer):
    """Username and password to exchange for a token."""

    username = serializers.CharField(write_only=True)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    """The token to send as ``Authorization: Token <token>``."""

    token = serializers.CharField(read_only=True)


class AccountTokenSerializer(serializers.Serializer):
    """The signed-in user's API token (null before they have one) and when it was created."""

    token = serializers.CharField(read_only=True, allow_null=True)
    created = serializers.DateTimeField(read_only=True, allow_null=True)


class DatasetSerializer(serializers.ModelSerializer):
    """A dataset: columns, modes and training settings, with its size, revision and training state."""

    name = serializers.CharField(max_length=200, trim_whitespace=False)
    features = serializers.ListField(
        child=serializers.CharField(max_length=200, trim_whitespace=False), allow_empty=False,
        help_text="Feature column names, in model order.",
    )
    target = serializers.CharField(max_length=200, trim_whitespace=False, help_text="Target column name.")
    modes = serializers.ListField(
        child=serializers.ChoiceField(choices=Mode.choices), allow_empty=False, default=list(DEFAULT_MODES),
        help_text="Training modes: a non-empty subset of incremental, naive, delta.",
    )
    learning_rate = serializers.FloatField(allow_null=True, required=False, default=None,
                                           help_text="Fixed step; null = auto.")
    momentum = serializers.FloatField(allow_null=True, required=False, default=None,
                                      help_text="Heavy-ball momentum in [0, 1); null = auto.")
    max_iterations = serializers.IntegerField(min_value=1, max_value=100_000, default=100)
    tolerance = serializers.FloatField(min_value=0.0, default=1e-6)
    initial_weights = serializers.JSONField(
        allow_null=True, required=False, default=None,
        help_text='{"weights": {feature: number}, "bias": number}; null = zeros.',
    )
    window = serializers.IntegerField(min_value=1, max_value=2**31 - 1, allow_null=True, required=False, default=None,
                                      help_text="Train on the last K batches by number; null = every batch.")
    l2 = serializers.FloatField(min_value=0.0, required=False, default=0.0,
                                help_text="Ridge penalty (>= 0) on the weights, not the bias; 0 = none.")
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    revision = serializers.IntegerField(
        source="data_version", read_only=True,
        help_text="The data revision: changes so far (batches appended, replaced or deleted; settings changed).",
    )
    batches = serializers.IntegerField(source="batch_count", read_only=True, help_text="Batches (not deleted).")
    rows = serializers.IntegerField(read_only=True, help_text="Rows in its batches.")
    state = serializers.SerializerMethodField(help_text="empty, training or trained.")

    class Meta:
        model = Dataset
        fields = ["id", "name", "owner", "features", "target", "modes", "learning_rate", "momentum",
                  "max_iterations", "tolerance", "standardize", "initial_weights", "warm_start", "window", "l2",
                  "created_at",
                  "revision", "batches", "rows", "state"]
        read_only_fields = ["id", "created_at"]
        # The service checks per-owner name uniqueness; ModelSerializer must not add its own validator.
        validators: list[Any] = []

    def get_state(self, dataset: Dataset) -> str:
        """The state from the context's ``states`` map (filled once per page), else ``empty``."""
        return self.context.get("states", {}).get(dataset.pk, "empty")


class BatchSerializer(serializers.ModelSerializer):
    """A batch: its number (an identity), rows, source file, content hash, and the revision of its last change."""

    class Meta:
        model = Batch
        fields = ["number", "rows", "source", "content_hash", "created_at", "replaced_at", "revision"]
        read_only_fields = fields


class BatchAcceptedSerializer(BatchSerializer):
    """An accepted (or replaced) batch, its ``revision`` (the change's), and whether its models are trained yet."""

    training = serializers.ChoiceField(choices=["done", "queued"], read_only=True,
                                       help_text="done: every mode's model reflects it (201, or 200 for a "
                                                 "replacement); queued: not yet (202).")

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "training"]
        read_only_fields = fields


class BatchFileSerializer(serializers.Serializer):
    """A CSV file: a header naming the columns (any order; other columns ignored), then rows of numbers."""

    file = serializers.FileField(allow_empty_file=True)


class BatchRowsSerializer(serializers.Serializer):
    """Rows as JSON objects {column: number}; each needs every feature and the target, others are ignored."""

    rows = serializers.ListField(child=serializers.JSONField(), allow_empty=False)


class ModelQuerySerializer(serializers.Serializer):
    """Which model: a mode (default: the dataset's first) and a data revision (default: the latest trained)."""

    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    revision = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)


class OptimumSerializer(serializers.Serializer):
    """The least-squares optimum over the same rows (closed form)."""

    weights = FeatureWeightsField()
    bias = FiniteFloatField(allow_null=True)
    loss = FiniteFloatField(allow_null=True)


class WorkReasonSerializer(serializers.Serializer):
    """Why calls of a function executed, and how many did for that reason."""

    why = serializers.CharField(read_only=True, help_text='e.g. "input batch(rt, 7) changed", "code of statistics changed"')
    count = serializers.IntegerField(read_only=True)


class WorkFunctionSerializer(serializers.Serializer):
    """One derived function's share of an update's engine work."""

    function = serializers.CharField(read_only=True)
    executed = serializers.IntegerField(read_only=True, help_text="Calls that ran.")
    hits = serializers.IntegerField(read_only=True, help_text="Calls served from a memo already current.")
    verified = serializers.IntegerField(read_only=True, help_text="Memos re-verified at this revision without running.")
    backdated = serializers.IntegerField(read_only=True, help_text="Executions whose value was unchanged (early cutoff).")
    reasons = WorkReasonSerializer(many=True, read_only=True)


class WorkSerializer(serializers.Serializer):
    """What the engine did to bring a mode up to date: totals and per function (empty for records made before)."""

    executed = serializers.IntegerField(read_only=True)
    hits = serializers.IntegerField(read_only=True)
    verified = serializers.IntegerField(read_only=True)
    backdated = serializers.IntegerField(read_only=True)
    functions = WorkFunctionSerializer(many=True, read_only=True)


class GraphNodeSerializer(serializers.Serializer):
    """One call of the graph: its text, what the run did with it, and its admin row."""

    label = serializers.CharField(read_only=True)
    state = serializers.ChoiceField(choices=["executed", "verified", "reused", "input", "deleted", "unset"], read_only=True)
    url = serializers.CharField(read_only=True, allow_null=True, help_text="The memo's or input's admin page.")


class GraphFunctionSerializer(serializers.Serializer):
    """The calls of one function in the graph, the functions they read, and their states."""

    function = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=["derived", "input"], read_only=True)
    calls = serializers.IntegerField(read_only=True)
    states = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    deps = serializers.ListField(child=serializers.CharField(), read_only=True)
    chained = serializers.BooleanField(read_only=True, help_text="Its calls also read each other.")
    nodes = GraphNodeSerializer(many=True, read_only=True, help_text="The first 200 calls.")


class GraphSerializer(serializers.Serializer):
    """A mode's model as the engine holds it: the dependency graph below its last iteration, grouped by function."""

    mode = serializers.ChoiceField(choices=Mode.choices, read_only=True)
    revision = serializers.IntegerField(read_only=True, help_text="The data revision of the run that colours it.")
    store_revision = serializers.IntegerField(read_only=True, help_text="The engine revision the graph was read at.")
    root = serializers.CharField(read_only=True)
    calls = serializers.IntegerField(read_only=True)
    functions = GraphFunctionSerializer(many=True, read_only=True)


class TrainedModelSerializer(serializers.Serializer):
    """A mode's model of the data at a revision."""

    mode = serializers.ChoiceField(choices=Mode.choices)
    revision = serializers.IntegerField(help_text="The data revision this model reflects.")
    data_revision = serializers.IntegerField(help_text="The dataset's latest data revision.")
    up_to_date = serializers.BooleanField()
    batch = serializers.IntegerField(help_text="The newest batch number in the model's data.")
    features = serializers.ListField(child=serializers.CharField())
    target = serializers.CharField()
    rows = serializers.IntegerField()
    weights = FeatureWeightsField()
    standardized_weights = FeatureWeightsField(
        allow_null=True, help_text="w x sd(feature) / sd(target): comparable across features; null for old records.")
    bias = FiniteFloatField(allow_null=True)
    iterations = serializers.IntegerField()
    converged = serializers.BooleanField()
    diverged = serializers.BooleanField()
    loss = FiniteFloatField(allow_null=True)
    losses = serializers.ListField(child=FiniteFloatField(allow_null=True), help_text="Loss per iteration.")
    elapsed_ms = serializers.ListField(child=FiniteFloatField(allow_null=True), allow_null=True,
                                       help_text="Milliseconds from the update's start to each iteration's loss.")
    optimum = OptimumSerializer()
    gradient_error = FiniteFloatField(allow_null=True)
    learning_rate = FiniteFloatField(allow_null=True)
    momentum = FiniteFloatField(allow_null=True)
    message = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    wall_ms = FiniteFloatField(allow_null=True)
    work = WorkSerializer(read_only=True)


class PredictRequestSerializer(serializers.Serializer):
    """Feature values to predict from: one object per row; other keys are ignored."""

    mode = serializers.ChoiceField(choices=Mode.choices, required=False, help_text="Default: the dataset's first mode.")
    revision = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False,
                                        help_text="Default: the latest trained model.")
    rows = serializers.ListField(
        child=serializers.DictField(child=serializers.FloatField()), allow_empty=False, max_length=MAX_PREDICT_ROWS,
    )

    def validate_rows(self, rows: list[dict[str, float]]) -> list[dict[str, float]]:
        """Every row must have finite values (the features are checked against the dataset in the view)."""
        for number, row in enumerate(rows, start=1):
            bad = [key for key, value in row.items() if not math.isfinite(value)]
            if bad:
                raise serializers.ValidationError(f"row {number}: {', '.join(map(repr, bad))} must be finite")
        return rows


class PredictionSerializer(serializers.Serializer):
    """Predictions in row order, from the model of ``mode`` at ``revision``."""

    mode = serializers.ChoiceField(choices=Mode.choices)
    revision = serializers.IntegerField()
    predictions = serializers.ListField(child=FiniteFloatField(allow_null=True))


class RunSerializer(serializers.ModelSerializer):
    """What bringing a mode's model up to date with a data revision cost, and the model's loss after it."""

    batch = serializers.IntegerField(source="batch_number", read_only=True,
                                     help_text="The newest batch number in the data.")
    wall_ms = FiniteFloatField(allow_null=True)
    loss = FiniteFloatField(allow_null=True)
    gradient_error = FiniteFloatField(allow_null=True)
    learning_rate = FiniteFloatField(allow_null=True)
    momentum = FiniteFloatField(allow_null=True)
    work = WorkSerializer(read_only=True)

    class Meta:
        model = BatchRun
        fields = ["revision", "first_batch", "batch", "mode", "rows_batch", "rows_total", "wall_ms", "iterations",
                  "converged", "diverged", "executed", "reused", "work", "loss", "gradient_error", "learning_rate",
                  "momentum", "message", "created_at"]
        read_only_fields = fields

    #: The fields that are floats, served as null when NaN or infinite.
    FLOATS = frozenset({"wall_ms", "loss", "gradient_error", "learning_rate", "momentum"})

    def to_representation(self, run: BatchRun) -> dict[str, Any]:
        """The record's fields read directly: DRF's per-field machinery was most of a 1,000-record page's time."""
        created_at = self.fields["created_at"]
        out: dict[str, Any] = {}
        for name in self.Meta.fields:
            value = run.batch_number if name == "batch" else getattr(run, name)
            if name in self.FLOATS:
                value = finite_or_none(None if value is None else float(value))
            elif name == "created_at":
                value = created_at.to_representation(value)
            out[name] = value
        return out


class CurveSerializer(serializers.ModelSerializer):
    """A convergence curve: the loss at every iterate of one (revision, mode) update, and the optimum's loss."""

    batch = serializers.IntegerField(source="batch_number", read_only=True)
    losses = serializers.ListField(child=FiniteFloatField(allow_null=True), read_only=True)
    elapsed_ms = serializers.ListField(child=FiniteFloatField(allow_null=True), read_only=True, allow_null=True,
                                       help_text="Milliseconds from the update's start to each iterate's loss.")
    optimum_loss = serializers.SerializerMethodField()

    class Meta:
        model = BatchRun
        fields = ["revision", "first_batch", "batch", "mode", "rows_total", "wall_ms", "iterations", "converged",
                  "losses", "elapsed_ms", "optimum_loss"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.DOUBLE)
    def get_optimum_loss(self, run: BatchRun) -> float | None:
        """The least-squares loss over the same rows: the floor every curve tends to."""
        return finite_or_none(run.optimum.get("loss"))


class MemoSerializer(serializers.Serializer):
    """A memoized call of the dataset's runtime namespace (its value as a short preview)."""

    id = serializers.IntegerField(read_only=True)
    label = serializers.CharField(read_only=True, help_text="The call as text, e.g. double(rt, 1); searchable.")
    function = serializers.CharField(read_only=True)
    preview = serializers.CharField(read_only=True)
    changed_at = serializers.IntegerField(read_only=True)
    verified_at = serializers.IntegerField(
        read_only=True, help_text="The last revision the memo was known current at (its execution or a re-verification)."
    )
    code_version = serializers.CharField(read_only=True)
    duration = FiniteFloatField(allow_null=True)
    written_at = serializers.DateTimeField(read_only=True)


class TrainingStateSerializer(serializers.Serializer):
    """Background training of one mode: status, data revisions requested and covered, progress of the current run."""

    mode = serializers.ChoiceField(choices=Mode.choices)
    status = serializers.ChoiceField(choices=["idle", "queued", "running", "done", "failed"])
    requested = serializers.IntegerField(help_text="Data revision the model must reach.")
    covered = serializers.IntegerField(help_text="Data revision the latest model reflects.")
    pending = serializers.IntegerField(help_text="Revisions not yet in the model.")
    first_batch = serializers.IntegerField(allow_null=True)
    iteration = serializers.IntegerField(allow_null=True, help_text="Iteration the running update reached.")
    loss = FiniteFloatField(allow_null=True, help_text="Loss at that iteration.")
    attempts = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    lease_expired = serializers.BooleanField()
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class TrainingSerializer(serializers.Serializer):
    """Training state of every mode the dataset trains."""

    modes = TrainingStateSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    """Every error: a stable ``code``, a human ``detail``, and the context its code defines (see exceptions.py)."""

    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(required=False, help_text="invalid: {field: [message, ...]}.")
    file = serializers.CharField(required=False, allow_null=True)
    row = serializers.IntegerField(required=False, allow_null=True)
    line = serializers.IntegerField(required=False, allow_null=True)
    column = serializers.CharField(required=False, allow_null=True)
    reason = serializers.CharField(required=False)
    batch = serializers.IntegerField(required=False, help_text="duplicate_batch: the identical batch's number.")
    limit_bytes = serializers.IntegerField(required=False)
    mode = serializers.CharField(required=False)
    wait = serializers.FloatField(required=False, allow_null=True)

"""Predicted outputs, as the OpenAI API's `prediction` parameter: the client sends the text it
expects back (the file it asked to edit), and drafts are that text's next tokens from where the
output has got to in it.

The output is followed through the prediction by a cursor: each output token equal to the
prediction's next one moves it on. At the first that differs (the edit) the cursor is lost; it is
found again where the output's latest n tokens occur in the prediction, first from the point it
was lost on (an edit changes a few lines, then the output picks the file up further down), else
at the nearest occurrence before it. A request without a prediction is never drafted."""

from __future__ import annotations

from bisect import bisect_left

from .ngram_index import NgramIndex


class PredictionCursor:
    """Where one request's output stands in its prediction."""

    def __init__(self, prediction: list[int], ngram_min: int, ngram_max: int):
        self.prediction = prediction
        self.index = NgramIndex(ngram_min, ngram_max)
        self.index.update(prediction + [-1])  # index every n-gram, the prediction's last ones too
        self.cursor: int | None = 0  # the prediction token the output's next one should equal
        self.lost_at = 0  # where the cursor was when the output last left the prediction
        self.seen = 0  # output tokens already followed

    def follow(self, output: list[int]) -> None:
        """Moves the cursor over the output's new tokens, and looks for it again if they left the prediction."""
        p = self.prediction
        for tok in output[self.seen :]:
            if self.cursor is not None and self.cursor < len(p) and p[self.cursor] == tok:
                self.cursor += 1
            elif self.cursor is not None:
                self.lost_at, self.cursor = self.cursor, None
        self.seen = len(output)
        if self.cursor is None and output:
            hit = self.index.find(output)
            if hit is not None:  # an occurrence that starts where the output left, or later
                n, ends = hit
                i = bisect_left(ends, self.lost_at + n)
                self.cursor = ends[i] if i < len(ends) else ends[-1]

    def draft(self, k: int) -> list[int]:
        return [] if self.cursor is None else self.prediction[self.cursor : self.cursor + k]


class PredictedOutputsProposer:
    name = "predicted_outputs"

    def __init__(self, ngram_min: int, ngram_max: int):
        self.ngram_min, self.ngram_max = ngram_min, ngram_max

    def propose(self, seq, k: int) -> list[int]:
        if seq.draft_state is None:
            prediction = seq.params.prediction
            # False: nothing to draft from (no prediction), asked once per request
            seq.draft_state = (
                PredictionCursor(list(prediction), self.ngram_min, self.ngram_max) if prediction else False
            )
        if seq.draft_state is False:
            return []
        state: PredictionCursor = seq.draft_state
        state.follow(seq.output_token_ids)
        return state.draft(k)

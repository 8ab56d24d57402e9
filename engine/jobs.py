"""Jobs the supervisor is working on, and the order and priority rules over them.

Priorities follow speech-dispatcher's SSIP semantics:
- important: never cancelled by other messages; dispatched before everything else.
- message: dispatched after important ones, first come first served.
- text: a new text, message or important request cancels every text request (of any client)
  that is queued or speaking.
- notification: dropped at once if anything else is queued or speaking; cancelled by any new
  request that is not a notification or progress.
- progress: like notification, except that it is not dropped when others speak: it waits, and a
  newer progress request replaces an older one that has not started.
Within a priority, requests that have not started yet go first (in arrival order) so a new
request's first clause never waits behind a long text; then the oldest started request.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from dataclasses import dataclass, field

from ipc import messages


@dataclass
class Job:
    id: int
    request_id: str
    envelope: list[bytes]        # ZeroMQ routing frames of the client that asked
    text: str
    voice: int
    voice_name: str
    length_scale: float
    noise_scale: float
    noise_w: float
    gain: float
    sample_rate: int = 22050
    created: float = field(default_factory=time.monotonic)
    sent_to_frontend: bool = False
    clauses: list[list[int]] = field(default_factory=list)
    phonemized: bool = False
    dispatched: int = 0
    end_sent: bool = False
    frames: int = 0
    priority: str = "message"
    output: str = "stream"
    vocoder: str = "neural"
    skip_clauses: int = 0        # a continuation (resume, retry) starts at this clause of the text
    attempts: int = 1            # a job whose worker died is continued once, then fails
    heard_clause: int = -1       # last clause (of the whole text) whose audio reached the client or device
    playing_reported: bool = False

    def resume_point(self) -> int:
        """The next clause boundary after what was heard: where a continuation starts."""
        return max(self.skip_clauses, self.heard_clause + 1)

    @property
    def started(self) -> bool:
        return self.dispatched > 0


PRIORITIES = ("important", "message", "text", "progress", "notification")
PRIORITY_RANK = {name: rank for rank, name in enumerate(PRIORITIES)}


class JobTable:
    """Active jobs by id, and the order in which their clauses go to the acoustic stage."""

    def __init__(self):
        self._jobs: dict[int, Job] = {}
        self._paused: dict[int, Job] = {}     # out of the pipeline, waiting for resume (or stop)
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, envelope: list[bytes], request: messages.Speak, voice: int, manifest, defaults) -> Job:
        rate = request.rate if request.rate is not None else defaults.default_rate
        volume = request.volume if request.volume is not None else defaults.default_volume
        job = Job(id=next(self._ids), request_id=request.id, envelope=envelope, text=request.text,
                  voice=voice, voice_name=manifest.name, length_scale=manifest.length_scale / rate,
                  noise_scale=manifest.noise_scale, noise_w=manifest.noise_w,
                  gain=defaults.output_gain * manifest.gain * volume, sample_rate=manifest.sample_rate,
                  priority=request.priority, vocoder=request.vocoder or "neural")
        self._jobs[job.id] = job
        return job

    def continuation(self, old: Job, from_clause: int, attempts: int) -> Job:
        """A new job (new id: workers drop the old one's leftovers) for the rest of old's text."""
        job = dataclasses.replace(old, id=next(self._ids), created=time.monotonic(), sent_to_frontend=False,
                                  clauses=[], phonemized=False, dispatched=0, end_sent=False, frames=0,
                                  skip_clauses=from_clause, attempts=attempts, heard_clause=from_clause - 1)
        self._jobs.pop(old.id, None)
        self._jobs[job.id] = job
        return job

    def pause(self, job: Job) -> None:
        self._jobs.pop(job.id, None)
        self._paused[job.id] = job

    def paused(self) -> list[Job]:
        return list(self._paused.values())

    def resume(self, job: Job) -> Job:
        """Continue a paused job from the clause after the one that was cut off."""
        self._paused.pop(job.id, None)
        return self.continuation(job, job.resume_point(), job.attempts)

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def remove(self, job_id: int) -> None:
        self._jobs.pop(job_id, None)
        self._paused.pop(job_id, None)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def active_ids(self) -> list[int]:
        return list(self._jobs)

    def waiting_for_frontend(self) -> list[Job]:
        return [job for job in self._jobs.values() if not job.sent_to_frontend]

    def next_with_clause(self) -> Job | None:
        """Jobs that have not started yet go first (in arrival order), so a new request's first
        clause never waits behind a long text; then the oldest started job."""
        ready = [job for job in self._jobs.values() if job.dispatched < len(job.clauses)]
        if not ready:
            return None
        return min(ready, key=lambda job: (PRIORITY_RANK[job.priority], job.started, job.created))

    def displaced_by(self, priority: str) -> tuple[bool, list[Job]]:
        """Apply the SSIP rules for a new request: (drop the new one?, jobs it cancels)."""
        jobs = list(self._jobs.values())
        if priority == "notification":
            return bool(jobs), []
        cancelled = [job for job in jobs if job.priority == "notification"]
        if priority in ("important", "message", "text"):
            cancelled += [job for job in jobs if job.priority == "text"]
        if priority == "progress":
            cancelled += [job for job in jobs if job.priority == "progress" and not job.started]
        return False, cancelled

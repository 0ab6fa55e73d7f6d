"""CloudWatch alarm states, read for the safety checks of a traffic shift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from layerkit.aws.errors import aws_call
from layerkit.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient

_BATCH = 100  # DescribeAlarms accepts at most 100 names per call


@dataclass(frozen=True)
class AlarmState:
    name: str
    state: str  # OK, ALARM or INSUFFICIENT_DATA
    reason: str
    updated: str


class AlarmWatch(Protocol):
    """What a traffic shift asks before each step and during each wait."""

    @property
    def names(self) -> tuple[str, ...]: ...

    def firing(self) -> tuple[AlarmState, ...]:
        """The watched alarms currently in ALARM (empty when all is well)."""
        ...


def describe_alarm_states(
    cloudwatch_client: CloudWatchClient, names: Sequence[str]
) -> tuple[AlarmState, ...]:
    """The states of the named metric and composite alarms; a missing name is an error.

    A misspelt alarm would never fire, silently removing the safety net, so it is refused.
    """
    found: dict[str, AlarmState] = {}
    unique = sorted(set(names))
    for start in range(0, len(unique), _BATCH):
        batch = unique[start : start + _BATCH]
        with aws_call("DescribeAlarms", "CloudWatch alarms " + ", ".join(batch)):
            paginator = cloudwatch_client.get_paginator("describe_alarms")
            pages = paginator.paginate(
                AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            for page in pages:
                for item in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    found[item["AlarmName"]] = AlarmState(
                        name=str(item["AlarmName"]),
                        state=str(item.get("StateValue", "")),
                        reason=str(item.get("StateReason", "")),
                        updated=str(item.get("StateUpdatedTimestamp", "")),
                    )
    missing = [name for name in unique if name not in found]
    if missing:
        raise AwsError(
            "CloudWatch alarm(s) not found: " + ", ".join(missing),
            hint="check the alarm names and that they are in the region of the function (--region)",
        )
    return tuple(found[name] for name in unique)


class CloudWatchAlarms:
    """An `AlarmWatch` over named CloudWatch alarms (no client is needed when none are named)."""

    def __init__(self, cloudwatch_client: CloudWatchClient | None, names: Sequence[str]) -> None:
        self._client = cloudwatch_client
        self._names = tuple(dict.fromkeys(names))
        if self._names and cloudwatch_client is None:
            raise ValueError("watching CloudWatch alarms needs a CloudWatch client")

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def states(self) -> tuple[AlarmState, ...]:
        if self._client is None:  # then no alarm is named
            return ()
        return describe_alarm_states(self._client, self._names)

    def firing(self) -> tuple[AlarmState, ...]:
        return tuple(alarm for alarm in self.states() if alarm.state == "ALARM")

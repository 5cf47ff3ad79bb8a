"""Test double at the rclpy boundary: `rclpy` and the ROS 2 message packages, in one process, without ROS.

rclpy cannot be installed on these machines (it comes with ROS 2, not from PyPI). This double implements the part
edgeseg's node uses and rejects what rclpy rejects, checked against ros2/rclpy (humble: rclpy/node.py, publisher.py,
qos.py, parameter handling) and ros2/rosidl_python (humble: resource/_msg.py.em, the generated message classes):

- a publisher refuses a message of another type (TypeError 'Expected …, got …', publisher.py);
- create_publisher / create_subscription take a QoSProfile or an int depth, nothing else (TypeError, node.py);
- topic names are validated and `~` expands to the node's name (InvalidTopicNameException otherwise);
- a parameter given with `--ros-args -p name:=value` of another type than its declared default raises
  InvalidParameterTypeException, as Humble's static typing does;
- message fields check their types as the generated classes do: a uint8[] field takes array.array('B') at once,
  or a sequence of ints (not a numpy array: AssertionError), float64[N] fields take numpy arrays of that size;
- after rclpy.shutdown(), publishing raises RCLError ("publisher's context is invalid") and spin returns.
Messages are delivered to subscriptions in this process through CDR (rosbags' real serialization), keeping the last
`depth` per subscription, and callbacks run only inside spin / spin_once, as with rclpy's executor.
"""

from __future__ import annotations

import array
import re
import sys
import threading
from collections import deque
from enum import IntEnum
from types import ModuleType
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore

TYPES = get_typestore(Stores.ROS2_HUMBLE)
_NAMES = {
    "builtin_interfaces/msg/Time": ("builtin_interfaces.msg", "Time"),
    "std_msgs/msg/Header": ("std_msgs.msg", "Header"),
    "sensor_msgs/msg/RegionOfInterest": ("sensor_msgs.msg", "RegionOfInterest"),
    "sensor_msgs/msg/Image": ("sensor_msgs.msg", "Image"),
    "sensor_msgs/msg/CameraInfo": ("sensor_msgs.msg", "CameraInfo"),
    "std_msgs/msg/String": ("std_msgs.msg", "String"),
}


class RCLError(RuntimeError):
    """rclpy._rclpy_pybind11.RCLError."""


class InvalidTopicNameException(Exception):
    pass


class InvalidParameterTypeException(Exception):
    pass


_TYPECODES = {"uint8": "B", "float64": "d", "float32": "f", "int32": "i", "uint32": "I"}


def _message_class(msgtype: str) -> type:
    """A class like rosidl_generator_py generates: keyword constructor with defaults, type-checking setters."""
    fields = TYPES.fielddefs[msgtype][1]
    reference = TYPES.types[msgtype]

    def check(name: str, kind: Any, value: Any) -> Any:
        node, detail = kind
        if node == 1:  # a basic type: (type name, bound)
            typename = detail[0]
            if typename == "string":
                assert isinstance(value, str), f"The '{name}' field must be of type 'str'"
            elif typename in ("float32", "float64"):
                assert isinstance(value, float), f"The '{name}' field must be of type 'float'"
            elif typename == "bool":
                assert isinstance(value, bool), f"The '{name}' field must be of type 'bool'"
            else:
                is_int = isinstance(value, int) and not isinstance(value, bool)
                assert is_int, f"The '{name}' field must be of type 'int'"
            return value
        if node == 2:  # a nested message
            assert type(value).__name__ == detail.split("/")[-1], f"The '{name}' field must be a sub message"
            return value
        inner, size = detail
        typename = inner[1][0] if inner[0] == 1 else None
        python = int if typename not in ("float32", "float64") else float
        if node == 3:  # fixed-size arrays of numbers: a numpy array of exactly that dtype and size, or a sequence
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float64, f"The '{name}' numpy.ndarray() must have the dtype of 'numpy.float64'"
                assert value.size == size, f"The '{name}' numpy.ndarray() must have a size of {size}"
                return value
            floats = isinstance(value, (list, tuple)) and all(isinstance(v, float) for v in value)
            assert floats and len(value) == size, f"The '{name}' field must be a sequence of {size} floats"
            return np.array(value, np.float64)
        code = _TYPECODES.get(typename)
        if code is not None and isinstance(value, array.array):  # sequences of numbers: array.array at once
            assert value.typecode == code, f"The '{name}' array.array() must have the type code of '{code}'"
            return value
        # Anything else must be a real sequence (a numpy array is not one) of the right Python type.
        assert isinstance(value, (list, tuple, bytes, bytearray)) and not isinstance(value, str), (
            f"The '{name}' field must be a set or sequence"
        )
        if code is None:
            return list(value)
        assert all(isinstance(v, python) for v in value), f"The '{name}' field: each value must be of type '{python}'"
        return array.array(code, value)

    def default(kind: Any) -> Any:
        node, detail = kind
        if node == 1:
            return {"string": "", "bool": False, "float32": 0.0, "float64": 0.0}.get(detail[0], 0)
        if node == 2:
            return classes[detail]()
        if node == 3:
            return np.zeros(detail[1], np.float64)
        code = _TYPECODES.get(detail[0][1][0]) if detail[0][0] == 1 else None
        return array.array(code) if code else []

    def __init__(self: Any, **kwargs: Any) -> None:
        unknown = [k for k in kwargs if k not in dict(fields)]
        assert not unknown, f"Invalid arguments passed to constructor: {', '.join(unknown)}"
        for name, kind in fields:
            setattr(self, name, kwargs[name] if name in kwargs else default(kind))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        kind = dict(fields).get(name)
        assert kind is not None, f"{type(self).__name__} has no field {name!r}"
        object.__setattr__(self, name, check(name, kind, value))

    module, class_name = _NAMES[msgtype]
    return type(class_name, (), {"__init__": __init__, "__setattr__": __setattr__, "__module__": module,
                                 "_msgtype": msgtype, "_reference": reference})  # fmt: skip


classes: dict[str, type] = {}
for _msgtype in _NAMES:
    classes[_msgtype] = _message_class(_msgtype)


def _to_rosbags(message: Any) -> Any:
    reference = type(message)._reference
    values = {}
    for name, _ in TYPES.fielddefs[type(message)._msgtype][1]:
        value = getattr(message, name)
        if hasattr(type(value), "_msgtype"):
            value = _to_rosbags(value)
        elif isinstance(value, array.array):
            value = np.frombuffer(value, np.dtype(value.typecode)).copy()
        values[name] = value
    return reference(**values)


def _from_rosbags(message: Any, cls: type) -> Any:
    values = {}
    for name, _ in TYPES.fielddefs[cls._msgtype][1]:
        value = getattr(message, name)
        if hasattr(value, "__msgtype__"):
            value = _from_rosbags(value, classes[value.__msgtype__])
        elif isinstance(value, np.ndarray) and TYPES.fielddefs[cls._msgtype][1][0] and value.ndim == 1:
            code = {np.dtype(np.uint8): "B", np.dtype(np.float64): "d"}.get(value.dtype)
            kind = dict(TYPES.fielddefs[cls._msgtype][1])[name][0]
            if code is not None and kind == 4:  # a sequence: what rclpy hands a callback is an array.array
                value = array.array(code, value.tobytes())
        values[name] = value
    return cls(**values)


class ReliabilityPolicy(IntEnum):
    RELIABLE = 1
    BEST_EFFORT = 2


class HistoryPolicy(IntEnum):
    KEEP_LAST = 1
    KEEP_ALL = 2


class QoSProfile:
    def __init__(self, *, depth: int = 10, reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE,
                 history: HistoryPolicy = HistoryPolicy.KEEP_LAST) -> None:  # fmt: skip
        self.depth, self.reliability, self.history = depth, reliability, history


qos_profile_sensor_data = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
_TOKEN = re.compile(r"^[A-Za-z_~{][A-Za-z0-9_{}]*$")


class Graph:
    """What DDS does for the double: topics, their subscriptions, and the context's lifetime."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, list[Subscription]] = {}
        self.ok = False
        self.overrides: dict[str, Any] = {}
        self.lock = threading.Condition()


GRAPH = Graph()


class Parameter:
    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class Publisher:
    def __init__(self, node: Node, msg_type: type, topic: str, qos: QoSProfile) -> None:
        self.msg_type, self.topic, self.qos, self.node = msg_type, topic, qos, node

    def publish(self, msg: Any) -> None:
        if not GRAPH.ok:
            raise RCLError("failed to publish: publisher's context is invalid, at ./src/rcl/publisher.c:389")
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"Expected {self.msg_type}, got {type(msg)}")
        wire = TYPES.serialize_cdr(_to_rosbags(msg), self.msg_type._msgtype)
        for subscription in GRAPH.subscriptions.get(self.topic, []):
            subscription.deliver(wire)

    def get_subscription_count(self) -> int:
        return len(GRAPH.subscriptions.get(self.topic, []))


class Subscription:
    def __init__(self, node: Node, msg_type: type, topic: str, callback: Any, qos: QoSProfile) -> None:
        self.node, self.msg_type, self.topic, self.callback = node, msg_type, topic, callback
        self.queue: deque[bytes] = deque(maxlen=qos.depth or None)

    def deliver(self, wire: bytes) -> None:
        with GRAPH.lock:
            self.queue.append(wire)  # keep last `depth`: the oldest is dropped
            GRAPH.lock.notify_all()

    def take(self) -> Any | None:
        with GRAPH.lock:
            if not self.queue:
                return None
            wire = self.queue.popleft()
        return _from_rosbags(TYPES.deserialize_cdr(wire, self.msg_type._msgtype), self.msg_type)


class Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warn", message))

    warn = warning

    def error(self, message: str) -> None:
        self.lines.append(("error", message))


class Node:
    def __init__(self, node_name: str) -> None:
        if not GRAPH.ok:
            raise RCLError("failed to create node: the given context is not valid")
        self.name, self.subscriptions, self.parameters = node_name, [], {}
        self.logger = Logger()

    def get_name(self) -> str:
        return self.name

    def get_logger(self) -> Logger:
        return self.logger

    def _resolve(self, topic: str) -> str:
        tokens = topic.replace("~", f"/{self.name}", 1).strip("/").split("/") if topic.startswith("~") else None
        tokens = tokens or topic.strip("/").split("/")
        if not topic or topic.endswith("/") or "//" in topic or not all(_TOKEN.match(t) for t in tokens):
            raise InvalidTopicNameException(f"Invalid topic name {topic!r}: it must be a valid ROS 2 name")
        return "/" + "/".join(tokens)

    @staticmethod
    def _qos(qos: Any) -> QoSProfile:
        if isinstance(qos, QoSProfile):
            return qos
        if isinstance(qos, int) and not isinstance(qos, bool):
            if qos < 0:
                raise ValueError("history depth must be greater than or equal to zero")
            return QoSProfile(depth=qos)
        raise TypeError(f"Expected QoSProfile or int, but received {type(qos)!r}")

    def create_publisher(self, msg_type: type, topic: str, qos_profile: Any) -> Publisher:
        qos = self._qos(qos_profile)
        return Publisher(self, msg_type, self._resolve(topic), qos)

    def create_subscription(self, msg_type: type, topic: str, callback: Any, qos_profile: Any) -> Subscription:
        qos = self._qos(qos_profile)
        subscription = Subscription(self, msg_type, self._resolve(topic), callback, qos)
        GRAPH.subscriptions.setdefault(subscription.topic, []).append(subscription)
        self.subscriptions.append(subscription)
        return subscription

    def declare_parameter(self, name: str, value: Any = None) -> Parameter:
        if name in self.parameters:
            raise RuntimeError(f"parameter {name!r} has already been declared")
        given = GRAPH.overrides.get(name, value)
        if value is not None and _parameter_type(given) != _parameter_type(value):  # rclpy/exceptions.py's words
            raise InvalidParameterTypeException(
                f"Trying to set parameter '{name}' to '{given}' of type '{_parameter_type(given)}', "
                f"expecting type '{_parameter_type(value)}'"
            )
        self.parameters[name] = Parameter(name, given)
        return self.parameters[name]

    def get_parameter(self, name: str) -> Parameter:
        return self.parameters[name]

    def destroy_node(self) -> None:
        for subscription in self.subscriptions:
            GRAPH.subscriptions[subscription.topic].remove(subscription)
        self.subscriptions = []


def _parameter_type(value: Any) -> str:
    """rclpy.parameter.Parameter.Type's name for a value."""
    kinds = {bool: "BOOL", int: "INTEGER", float: "DOUBLE", str: "STRING"}
    if isinstance(value, (list, tuple)):
        return f"{kinds.get(type(value[0]), 'BYTE')}_ARRAY" if value else "BYTE_ARRAY"
    return kinds.get(type(value), "NOT_SET")


def _parse(value: str) -> Any:
    """A `-p name:=value` as rcl reads it (YAML): bool, int, float, list or string."""
    import yaml

    return yaml.safe_load(value)


def init(args: list[str] | None = None) -> None:
    GRAPH.ok, GRAPH.subscriptions, GRAPH.overrides = True, {}, {}
    args = list(args or [])
    if "--ros-args" in args:
        rest = args[args.index("--ros-args") + 1 :]
        for flag, value in zip(rest, rest[1:]):
            if flag == "-p":
                name, _, text = value.partition(":=")
                GRAPH.overrides[name] = _parse(text)


def ok() -> bool:
    return GRAPH.ok


def shutdown() -> None:
    with GRAPH.lock:
        GRAPH.ok = False
        GRAPH.lock.notify_all()


def spin_once(node: Node, timeout_sec: float | None = None) -> None:
    """Run one pending callback of `node`, waiting up to timeout_sec for one."""
    with GRAPH.lock:
        GRAPH.lock.wait_for(lambda: not GRAPH.ok or any(s.queue for s in node.subscriptions), timeout_sec)
    for subscription in node.subscriptions:
        message = subscription.take()
        if message is not None:
            subscription.callback(message)
            return


def spin(node: Node) -> None:
    while GRAPH.ok:
        spin_once(node, timeout_sec=0.05)


def install(monkeypatch: Any) -> None:
    """Make `import rclpy`, `rclpy.node`, `rclpy.qos` and the message packages give this double."""
    rclpy = ModuleType("rclpy")
    rclpy.init, rclpy.ok, rclpy.shutdown, rclpy.spin, rclpy.spin_once = init, ok, shutdown, spin, spin_once
    node_module, qos_module = ModuleType("rclpy.node"), ModuleType("rclpy.qos")
    node_module.Node = Node
    qos_module.QoSProfile, qos_module.ReliabilityPolicy, qos_module.HistoryPolicy = (
        QoSProfile, ReliabilityPolicy, HistoryPolicy,
    )  # fmt: skip
    qos_module.qos_profile_sensor_data = qos_profile_sensor_data
    exceptions = ModuleType("rclpy.exceptions")
    exceptions.InvalidTopicNameException = InvalidTopicNameException
    exceptions.InvalidParameterTypeException = InvalidParameterTypeException
    rclpy.node, rclpy.qos, rclpy.exceptions = node_module, qos_module, exceptions
    modules = {"rclpy": rclpy, "rclpy.node": node_module, "rclpy.qos": qos_module, "rclpy.exceptions": exceptions}
    for msgtype, (module_name, class_name) in _NAMES.items():
        package = module_name.split(".")[0]
        modules.setdefault(package, ModuleType(package))
        module = modules.setdefault(module_name, ModuleType(module_name))
        setattr(module, class_name, classes[msgtype])
        modules[package].msg = module
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)

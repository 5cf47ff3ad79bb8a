"""The test doubles refuse what the real TensorRT, CUDA and pycuda refuse: a double that accepts more is a
test that cannot fail. Each case here is a behaviour of the real library (see the doubles' docstrings)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from .fake_cuda import FakeCuda, FakeCudaError, FakeLogicError, FakePyCudaDriver
from .fake_tensorrt import FakeEngine, FakeTensorRT


@pytest.mark.parametrize(
    ("version", "flags"),
    [
        ("8.5.2", {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}),
        ("10.3.0", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}),
        ("11.1.0", {"STRONGLY_TYPED": 0}),
    ],
)
def test_network_creation_flags_have_each_versions_values(version, flags):
    assert vars(FakeTensorRT(version).NetworkDefinitionCreationFlag) == flags


def test_tensorrt_11_has_no_precision_flags_or_calibrator():
    trt = FakeTensorRT("11.1.0")
    assert not hasattr(trt.BuilderFlag, "FP16") and not hasattr(trt, "IInt8EntropyCalibrator2")


def _builder(trt):
    builder = trt.Builder(None)
    return builder, builder.create_network(0), builder.create_builder_config()


def test_dynamic_network_without_a_profile_does_not_build():
    trt = FakeTensorRT(dynamic=True)
    builder, network, config = _builder(trt)
    assert builder.build_serialized_network(network, config) is None
    assert "no optimization profile" in trt.errors[0]


def test_profile_that_disagrees_with_a_fixed_dimension_does_not_build():
    trt = FakeTensorRT(dynamic=False)
    builder, network, config = _builder(trt)
    profile = builder.create_optimization_profile()
    profile.set_shape("images", (1, 3, 32, 32), (4, 3, 32, 32), (8, 3, 32, 32))
    config.add_optimization_profile(profile)
    assert builder.build_serialized_network(network, config) is None


def _parsed(trt, tmp_path, flags=0):
    builder = trt.Builder(None)
    network = builder.create_network(flags)
    (tmp_path / "model.onnx").write_bytes(b"onnx-bytes")
    assert trt.OnnxParser(network, None).parse_from_file(str(tmp_path / "model.onnx"))
    return builder, network, builder.create_builder_config()


def _layer(network, name):
    return next(layer for layer in network.layers if layer.name == name)


def test_precision_requests_are_honoured_only_when_obeyed(tmp_path):
    trt = FakeTensorRT("8.6.1")
    builder, network, config = _parsed(trt, tmp_path)
    for flag in ("INT8", "FP16"):
        config.set_flag(flag)
    _layer(network, "/model/classifier/Conv").precision = trt.float32
    builder.build_serialized_network(network, config)
    assert trt.built_precisions["/model/classifier/Conv"][0] == "INT8"  # a faster implementation wins
    config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    builder.build_serialized_network(network, config)
    assert trt.built_precisions["/model/classifier/Conv"] == ("FLOAT", ["FLOAT"])


def test_int32_outputs_refuse_another_type_and_strongly_typed_networks_refuse_precision(tmp_path, capsys):
    trt = FakeTensorRT("8.6.1")
    _, network, _ = _parsed(trt, tmp_path)
    topk = _layer(network, "/ArgMax")
    topk.set_output_type(1, trt.float32)  # the indices of a TopK are always INT32
    assert topk.output_types == {} and "output 1 is INT32" in trt.errors[0]
    strongly_typed = FakeTensorRT("10.3.0")
    _, network, _ = _parsed(
        strongly_typed, tmp_path, flags=1 << strongly_typed.NetworkDefinitionCreationFlag.STRONGLY_TYPED
    )
    _layer(network, "/model/Resize").precision = strongly_typed.float32
    assert not _layer(network, "/model/Resize").precision_is_set and "strongly typed" in strongly_typed.errors[0]
    assert "[TRT] [E]" in capsys.readouterr().err


def test_calibrator_exception_is_printed_and_ends_calibration(capsys):
    cuda = FakeCuda()
    trt = FakeTensorRT("8.6.1", cuda=cuda)
    builder, network, config = _builder(trt)
    config.set_flag("INT8")
    pointer = cuda.malloc(3 * 32 * 32 * 4)

    class Calibrator:
        calls = 0

        def read_calibration_cache(self):
            return None

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            Calibrator.calls += 1
            if Calibrator.calls == 3:
                raise ValueError("boom")
            return [pointer]

        def write_calibration_cache(self, data):
            pass

    config.int8_calibrator = Calibrator()
    assert builder.build_serialized_network(network, config) is not None  # built on 2 batches, as TensorRT does
    assert trt.calibration_batches == 2
    assert "[ERROR] Exception caught in get_batch(): boom" in capsys.readouterr().err


def test_set_input_shape_returns_false_outside_the_profile():
    context = FakeEngine(FakeTensorRT(dynamic=True)).create_execution_context()
    assert context.set_input_shape("images", (2, 3, 8, 8))
    assert not context.set_input_shape("images", (8, 3, 8, 8))
    assert not context.set_input_shape("images", (1, 3, 4, 8))
    assert context.input_shape == (2, 3, 8, 8)  # a refused shape changes nothing


def test_runtime_dla_core_defaults_to_minus_one_and_needs_dla_cores():
    without = FakeTensorRT(dla_cores=0).Runtime(None)
    without.DLA_core = 1
    assert without.DLA_core == -1
    with_dla = FakeTensorRT(dla_cores=2).Runtime(None)
    with_dla.DLA_core = 1
    assert with_dla.DLA_core == 1


def test_pycuda_needs_a_current_context_in_each_thread():
    driver = FakePyCudaDriver()
    driver.init()
    context = driver.Device(0).make_context()  # current in this thread only
    driver.mem_alloc(16)
    errors = []

    def other_thread():
        try:
            driver.mem_alloc(16)
        except FakeLogicError as exc:
            errors.append(exc)
        context.push()
        driver.mem_alloc(16)
        driver.Context.pop()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "invalid device context" in str(errors[0])


def test_fake_cuda_release_frees_host_buffers_and_the_stream():
    cuda = FakeCuda(integrated=True)
    stream = cuda.stream()
    cuda.pinned_empty((2,), np.float32)
    cuda.mapped_empty((2,), np.float32)
    cuda.release(stream)
    assert cuda.pinned == [] and cuda.mapped == {}
    with pytest.raises(FakeCudaError, match="InvalidResourceHandle"):
        cuda.synchronize(stream)
    pointer = cuda.malloc(8)
    cuda.free(pointer)
    with pytest.raises(FakeCudaError):
        cuda.free(pointer)

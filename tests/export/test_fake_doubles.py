"""The test doubles refuse what the real TensorRT, CUDA and pycuda refuse: a double that accepts more is a
test that cannot fail. Each case here is a behaviour of the real library (see the doubles' docstrings)."""

from __future__ import annotations

import re
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from .fake_cuda import FakeCuda, FakeCudaError, FakeCudart, FakeLogicError, FakePyCudaDriver
from .fake_gpu import FakeCudaContext
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


# --- Issue 22: refusals the doubles lacked; each test failed against the kinder double it replaces. ---


def _bound_context(trt, cuda):
    """An execution context whose two tensors have device buffers; and a stream."""
    engine = trt.Runtime(None).deserialize_cuda_engine(b"engine")
    context = engine.create_execution_context()
    assert context.set_tensor_address("images", cuda.malloc(3 * 8 * 8 * 4))
    assert context.set_tensor_address("logits", cuda.malloc(2 * 8 * 8 * 4))
    return context, cuda.stream()


def test_tensorrt_objects_belong_to_the_cuda_context_they_were_made_in():
    cuda = FakeCuda()
    trt = FakeTensorRT(cuda=cuda)
    context, stream = _bound_context(trt, cuda)
    assert context.execute_async_v3(stream)  # one context throughout: it runs
    cuda.gpu.stack().append(FakeCudaContext("pycuda.autoinit's"))  # another context made current in this thread
    engine = trt.Runtime(None).deserialize_cuda_engine(b"engine")
    cuda.gpu.stack().pop()  # back to the primary context, which owns the buffers and the stream
    foreign = engine.create_execution_context()
    for name, address in context.addresses.items():
        foreign.set_tensor_address(name, address)
    assert not foreign.execute_async_v3(stream)
    assert "Cuda Runtime (the engine belongs to <CUDA context pycuda.autoinit's>" in trt.errors[-1]
    cuda.gpu.stack().append(FakeCudaContext("another"))
    assert not context.execute_async_v3(stream)  # buffers, stream and engine of the primary, run under another
    assert "the engine belongs to <CUDA context primary>, this thread runs <CUDA context another>" in trt.errors[-1]
    cuda.gpu.stack().pop()
    buffers = FakeTensorRT(cuda=FakeCuda(device=cuda.gpu))
    cuda.gpu.stack().append(FakeCudaContext("pycuda.autoinit's"))
    other, _ = _bound_context(buffers, cuda)  # engine and buffers of this context, the stream of the primary
    other.set_input_shape("images", (1, 3, 8, 8))
    assert not other.execute_async_v3(stream)
    assert f"{stream:#x} belongs to <CUDA context primary>" in buffers.errors[-1]


def test_set_tensor_address_refuses_unknown_names_and_unaligned_addresses():
    cuda = FakeCuda()
    context, _ = _bound_context(FakeTensorRT(cuda=cuda), cuda)
    pointer = cuda.malloc(3 * 8 * 8 * 4)
    assert not context.set_tensor_address("image", pointer)  # no such tensor
    assert not context.set_tensor_address("images", pointer + 4)  # not 256-byte aligned
    assert context.addresses["images"] != pointer + 4 and context.set_tensor_address("images", pointer)


def test_execute_async_v3_takes_the_stream_as_an_int():
    cuda = FakeCuda()
    context, stream = _bound_context(FakeTensorRT(cuda=cuda), cuda)
    context.set_input_shape("images", (1, 3, 8, 8))
    with pytest.raises(TypeError, match="incompatible function arguments"):
        context.execute_async_v3(SimpleNamespace(handle=stream))  # a pycuda Stream object, not its .handle
    assert context.execute_async_v3(stream)


def test_profile_set_shape_raises_for_shapes_that_are_not_ordered():
    profile = FakeTensorRT().Builder(None).create_optimization_profile()
    with pytest.raises(RuntimeError, match="Shape provided for max is inconsistent with other shapes"):
        profile.set_shape("images", (1, 3, 8, 8), (4, 3, 8, 8), (2, 3, 8, 8))
    with pytest.raises(RuntimeError, match="Shape provided for opt is inconsistent with other shapes"):
        profile.set_shape("images", (1, 3, 8, 8), (1, 3, 8), (1, 3, 8, 8))
    profile.set_shape("images", (1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))


def test_tensorrt_11_config_has_no_calibrator_and_earlier_ones_do():
    config = FakeTensorRT("11.0.0").Builder(None).create_builder_config()
    with pytest.raises(AttributeError, match="has no attribute 'int8_calibrator'"):
        config.int8_calibrator = object()
    assert not hasattr(config, "int8_calibrator") and not hasattr(config, "set_calibration_profile")
    older = FakeTensorRT("10.14.0").Builder(None).create_builder_config()
    older.int8_calibrator = calibrator = object()
    profile = FakeTensorRT("10.14.0").Builder(None).create_optimization_profile()
    assert older.int8_calibrator is calibrator and older.set_calibration_profile(profile)


def test_create_timing_cache_returns_none_for_a_blob_it_cannot_read():
    trt = FakeTensorRT()
    config = trt.Builder(None).create_builder_config()
    assert config.create_timing_cache(b"\x00junk") is None and config.create_timing_cache(b"trt10.") is None
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_timing_cache(None, ignore_mismatch=False)
    assert config.set_timing_cache(config.create_timing_cache(trt.cache_stamp() + b"tactics"), ignore_mismatch=False)


def test_nptype_maps_what_numpy_has_and_raises_for_the_rest():
    trt = FakeTensorRT("10.3.0")
    assert [trt.nptype(t) for t in ("FLOAT", "HALF", "INT32", "INT64")] == [np.float32, np.float16, np.int32, np.int64]
    for dtype in ("BF16", "FP8", "INT4"):
        with pytest.raises(TypeError, match="Could not resolve TensorRT datatype"):
            trt.nptype(dtype)
    with pytest.raises(TypeError):
        FakeTensorRT("8.6.1").nptype("INT64")  # INT64 came with TensorRT 10


class _Calibrator:
    def __init__(self, pointers):
        self.pointers, self.calls = pointers, 0

    def read_calibration_cache(self):
        return None

    def get_batch_size(self):
        return 1  # ignored for an explicit-batch network, as TensorRT does

    def get_batch(self, names):
        self.calls += 1
        return self.pointers if self.calls == 1 else None

    def write_calibration_cache(self, data):
        pass


def test_calibration_reads_a_whole_network_batch_from_one_pointer_per_input():
    cuda = FakeCuda()
    trt = FakeTensorRT("8.6.1", cuda=cuda, batch=2)
    image = 3 * 32 * 32 * 4
    for pointers, error in [
        ([cuda.malloc(image)], "reading 24576 bytes at .* an allocation of 12288"),  # one image for a batch of 2
        ([cuda.malloc(2 * image)] * 2, "get_batch gave 2 pointers for 1 network inputs"),
        ([0x10], "is not a live allocation"),
    ]:
        builder, network, config = _builder(trt)
        config.set_flag("INT8")
        config.int8_calibrator = _Calibrator(pointers)
        assert builder.build_serialized_network(network, config) is None
        assert re.search(error, trt.errors[-1])
    config.int8_calibrator = _Calibrator([cuda.malloc(2 * image)])
    assert builder.build_serialized_network(network, config) is not None
    dynamic = FakeTensorRT("8.6.1", cuda=cuda, dynamic=True)
    builder, network, config = _builder(dynamic)
    profile = builder.create_optimization_profile()
    profile.set_shape("images", (1, 3, 32, 32), (1, 3, 32, 32), (1, 3, 32, 32))
    config.add_optimization_profile(profile)
    config.set_flag("INT8")
    config.int8_calibrator = _Calibrator([cuda.malloc(image)])
    assert builder.build_serialized_network(network, config) is None
    assert "Calibration profile must be set" in dynamic.errors[-1]


def test_copies_refuse_arrays_that_are_not_contiguous():
    # The real copies read nbytes from the array's first byte (cudaMemcpyAsync) or ask for a contiguous buffer
    # (pycuda's memcpy_*_async): a strided view is never what is meant.
    strided = np.ones((4, 4), np.float32)[:, ::2]
    cuda = FakeCuda()
    pointer, stream = cuda.malloc(64), cuda.stream()
    with pytest.raises(FakeCudaError, match="contiguous"):
        cuda.copy_to_device(pointer, strided, stream)
    with pytest.raises(FakeCudaError, match="contiguous"):
        cuda.copy_to_host(np.empty((4, 4), np.float32)[:, ::2], pointer, stream)
    driver = FakePyCudaDriver()
    driver.init()
    driver.Device(0).make_context()
    allocation = driver.mem_alloc(64)
    with pytest.raises(ValueError, match="ndarray is not contiguous"):
        driver.memcpy_htod_async(allocation, strided, driver.Stream())


def test_cuda_python_returns_objects_and_error_tuples():
    from .fake_cudart import cudaError_t, get_cuda_native_handle

    cudart = FakeCudart(integrated=False)
    error, stream = cudart.cudaStreamCreate()
    assert error == cudaError_t.cudaSuccess and not isinstance(stream, int)  # a cudaStream_t object
    assert stream.getPtr() != get_cuda_native_handle(stream)  # getPtr(): where the handle is stored
    error, pointer = cudart.cudaMalloc(64)
    assert error == 0 and cudart.cudaFree(pointer) == (0,) and cudart.cudaFree(pointer) == (1,)
    error, host = cudart.cudaHostAlloc(64, 0)
    assert host % 4096 == 0 and cudart.cudaHostGetDevicePointer(host, 0) == (cudaError_t.cudaErrorInvalidValue, None)
    with pytest.raises(TypeError, match="an integer is required"):
        cudart.cudaMemcpyAsync(pointer, host, 4.0, 1, stream)
    assert cudart.cudaMemcpyAsync(pointer, host, 64, 1, stream) == (cudaError_t.cudaErrorInvalidValue,)  # freed
    assert cudart.cudaStreamDestroy(stream) == (0,) and cudart.cudaStreamSynchronize(stream) == (400,)
    too_new = FakeCudart(runtime=13000, driver=12060)  # cuda-bindings 13 on a CUDA 12 driver
    assert too_new.cudaRuntimeGetVersion() == (0, 13000)
    assert too_new.cudaMalloc(64) == (cudaError_t.cudaErrorInsufficientDriver, None)

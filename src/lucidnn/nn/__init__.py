"""Neural-network building blocks: Module, Parameter, containers and layers (PyTorch's conventions)."""

from lucidnn.nn.container import ModuleDict, ModuleList, Sequential
from lucidnn.nn.module import IncompatibleKeys, Module, RemovableHandle, StateDictError
from lucidnn.nn.parameter import Parameter

"""ntkgd: the NTK theory of gradient descent (Du et al., ICML 2019), made computable.

The public API is re-exported here; implementation lives in private modules.
"""

from ._activations import ACTIVATION_NAMES as ACTIVATION_NAMES
from ._activations import Activation as Activation
from ._activations import activation as activation
from ._analytic import Backend as Backend
from ._analytic import analytic_gram as analytic_gram
from ._data import Dataset as Dataset
from ._data import load_data as load_data
from ._dynamics import train as train
from ._empirical import empirical_gram as empirical_gram
from ._errors import DivergenceError as DivergenceError
from ._errors import GramTooLargeError as GramTooLargeError
from ._errors import UnsupportedBackendError as UnsupportedBackendError
from ._gram import Gram as Gram
from ._iterative import IterativeResult as IterativeResult
from ._iterative import iterative_lambda_min as iterative_lambda_min
from ._spec import ConvResNet as ConvResNet
from ._spec import FullyConnected as FullyConnected
from ._spec import ResNet as ResNet
from ._spec import TwoLayer as TwoLayer
from ._spectrum import SingularGramError as SingularGramError
from ._spectrum import Spectrum as Spectrum
from ._spectrum import inverse_quadratic_form as inverse_quadratic_form
from ._spectrum import label_projections as label_projections
from ._spectrum import lambda_min as lambda_min
from ._spectrum import parallel_rows as parallel_rows
from ._spectrum import spectrum as spectrum
from ._trajectory import Trajectory as Trajectory
from ._tiled import GramOperator as GramOperator
from ._tiled import IncompleteStoreError as IncompleteStoreError
from ._tiled import open_gram_store as open_gram_store

__version__ = "0.1.0"

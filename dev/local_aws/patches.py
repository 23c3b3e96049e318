"""Speed-ups of moto's internals for the local server, each small and named.

Every patch replaces a piece of moto's private code, so it holds only for the moto it was
written for: :func:`apply` applies them when the installed moto is ``WRITTEN_FOR`` (the version
requirements-dev.txt pins), and with any other moto skips them all with one warning that names
each. None of them changes what moto answers (tests/emulator/test_moto_server.py holds the server to
in-process moto's own answers, with and without them); without them the local run is slower,
not different.
``LOCAL_MOTO_PATCHES=off`` turns them off. What they save (December 2026, a shared 2-core machine
under load; the moto servers' CPU time for make bench's worker figure, 500 deliveries): 2.7 to
2.9 s with all of them, 13.2 to 13.4 s without; leaving out one alone adds 0.1 s
(partition_queries, whose saving grows with the table, not the batch) to 1.6 s
(static_lookups_once, queue_counts_on_demand); transactions_copy_a_table_once, measured on
1,000 writes and 30 four-item transactions instead, saved the most there (8.3 s against 4 s).

They are applied only in the local server's process (dev/local_aws/server.py), never where
the tests run moto in-process.
"""

import functools
import inspect
import json
import os
import string
import sys
import threading
import time

WRITTEN_FOR = "5.2.1"  # the moto version these patches were written against and checked with
SWITCH = "LOCAL_MOTO_PATCHES"  # "off" turns them off


def faster_clock():
    """Moto's SQS asks for the time for every queued message on every receive, by datetime
    arithmetic (``moto.sqs.models.unix_time``). The patch gives the same value straight from
    ``time.time()``, which makes a busy local queue several times faster."""
    import moto.core.utils as utils
    import moto.sqs.models as sqs_models

    def unix_time(dt=None):
        return time.time() if dt is None else utils.unix_time(dt)

    def unix_time_millis(dt=None):
        return time.time() * 1000.0 if dt is None else utils.unix_time_millis(dt)

    sqs_models.unix_time = unix_time
    sqs_models.unix_time_millis = unix_time_millis


def partition_queries():
    """Moto answers a Query (``Table.query``) by sorting every item of the table; DynamoDB
    reads one partition. The patch hands moto's own query code just the partition asked for,
    so a Query costs what the partition holds. Queries of an index, and tables without a sort
    key, take moto's own way. (Safe because one request at a time runs in moto.)"""
    from moto.dynamodb.models.table import Table

    original = Table.query
    parameters = inspect.signature(original)

    def query(self, hash_key, *args, **kwargs):
        index_name = parameters.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name is not None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: sorted(partition, key=lambda item: (item.hash_key, item.range_key))
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


def queue_counts_on_demand():
    """Moto counts a queue's messages (three passes over all of them) whenever its attributes
    are read, and its send and receive read them several times per message just to learn
    settings such as ContentBasedDeduplication: with a backlog, every send and receive costs a
    multiple of the queue's length. The patch counts only for a GetQueueAttributes that asks
    for the counts (``Approximate...`` or ``All``); the answers stay the same."""
    import moto.sqs.models as sqs_models

    wanted = threading.local()
    counts = ("approximate_number_of_messages", "approximate_number_of_messages_delayed",
              "approximate_number_of_messages_not_visible")
    for name in counts:
        count = getattr(sqs_models.Queue, name).fget
        setattr(sqs_models.Queue, name, property(lambda queue, count=count: count(queue) if getattr(wanted, "on", False) else 0))
    original = sqs_models.SQSBackend.get_queue_attributes

    def get_queue_attributes(self, queue_name, attribute_names):
        wanted.on = any(type(name) is str and (name == "All" or name.startswith("Approximate"))
                        for name in attribute_names or ())
        try:
            return original(self, queue_name, attribute_names)
        finally:
            wanted.on = False

    sqs_models.SQSBackend.get_queue_attributes = get_queue_attributes


_PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _plain_attribute(value):
    """True for a DynamoDB attribute value in the wire's own JSON form, with no binary in it."""
    if type(value) is not dict or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in _PLAIN_SCALARS:
        return type(inner) is _PLAIN_SCALARS[kind]
    if kind in ("SS", "NS"):
        return type(inner) is list and all(type(v) is str for v in inner)
    if kind == "M":
        return type(inner) is dict and all(type(k) is str and _plain_attribute(v) for k, v in inner.items())
    if kind == "L":
        return type(inner) is list and all(_plain_attribute(v) for v in inner)
    return False


def attribute_values_as_they_are():
    """Moto reads DynamoDB requests and writes its answers by walking the API model for every
    attribute value (``BaseJSONParser._parse_structure``, ``BaseJSONSerializer
    ._serialize_type_structure``): most of the cost of a PutItem, Query or BatchGetItem. The
    patch passes an attribute value that is already in the wire's JSON form with no binary in
    it (a binary is base64 on the wire and bytes inside moto) as it is; anything else takes
    moto's own way."""
    from moto.core.parse import BaseJSONParser
    from moto.core.serialize import BaseJSONSerializer

    parse_structure = BaseJSONParser._parse_structure
    serialize_structure = BaseJSONSerializer._serialize_type_structure

    def parse(self, shape, value):
        if shape.name == "AttributeValue" and _plain_attribute(value):
            return value
        return parse_structure(self, shape, value)

    def serialize(self, serialized, value, shape, key):
        if key and shape.name == "AttributeValue" and _plain_attribute(value):
            self._default_serialize(serialized, value, shape, key)
        else:
            serialize_structure(self, serialized, value, shape, key)

    BaseJSONParser._parse_structure = parse
    BaseJSONSerializer._serialize_type_structure = serialize


def item_size_checked_once():
    """Moto's ``Item.__init__`` checks DynamoDB's 400 KB item limit as it sets each attribute,
    by adding up the sizes of all attributes set so far: a cost that grows with the square of
    the attributes. The patch builds the item the same way and checks the whole item once; the
    same items pass and fail."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    def build(self, hash_key, range_key, attrs):
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        for key, value in attrs.items():
            dict.__setitem__(self.attrs, key, DynamoType(value))
        if self.size() > 405000:  # moto's own figure for the limit
            raise ItemSizeTooLarge

    Item.__init__ = build


def static_lookups_once():
    """Moto works out, on every request, things that cannot change while the server runs: the
    list of its own service packages (``list_of_moto_modules``, a stat of each), the methods of
    a response class, the backend for a host name (a regular expression per service), and
    Python names for SQS attribute names. The patch works each out once and keeps it."""
    import moto.backends as backends
    import moto.core.responses as responses
    import moto.sqs.models as sqs_models
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    modules = frozenset(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
    sqs_models.camelcase_to_underscores = functools.lru_cache(maxsize=None)(sqs_models.camelcase_to_underscores)
    backend_for_host = DomainDispatcherApplication.get_backend_for_host
    hosts = {}

    def get_backend_for_host(self, host):
        if host not in hosts:
            hosts[host] = backend_for_host(self, host)
        return hosts[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


def receipt_handles_in_one_go():
    """Moto makes each SQS receipt handle (``generate_receipt_handle``) with one random.choice
    call per character (185 of them); the patch makes the same kind of handle with one
    random.choices call."""
    import moto.sqs.models as sqs_models
    from moto.moto_api._internal import mock_random

    sqs_models.generate_receipt_handle = lambda: "".join(mock_random.choices(string.ascii_lowercase, k=185))


def conditions_parsed_once():
    """Moto parses a ConditionExpression (``ConditionExpressionParser.parse``: a lexer, then
    seven passes over the tokens) twice for every conditional write, once to check the names
    it uses and once to judge it: about a third of a PutItem's time. The patch keeps the latest
    parses, each keyed by its expression, names and values, with the names and values it found;
    the syntax tree is only read when an item is judged. A parse that fails is not kept: it
    fails again, the same way."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    parse_expression = ConditionExpressionParser.parse

    @functools.lru_cache(maxsize=4096)
    def parsed(expression, names, values):
        parser = ConditionExpressionParser(expression, json.loads(names), json.loads(values))
        return parse_expression(parser), tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found)

    def parse(self):
        try:
            key = (self.condition_expression, json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))
        except (TypeError, ValueError):  # not in the wire's JSON form: moto's own way
            return parse_expression(self)
        tree, names_found, values_found = parsed(*key)
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return tree

    ConditionExpressionParser.parse = parse


def transactions_copy_a_table_once():
    """Moto's ``transact_write_items`` keeps a copy of each table it writes, to roll back to, and
    makes that copy (``copy.deepcopy`` of the whole table) again for every item of the
    transaction, though nothing has changed between them: a creation's four items copy the
    table four times, so creations slow down with the square of the table. The patch makes the
    copy once a table per transaction; it is the same copy, and the same roll-back."""
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items

    class OnceATable:
        def __init__(self):
            self.copies = {}

        def deepcopy(self, value, memo=None):
            if not isinstance(value, Table):
                return copy.deepcopy(value, memo)
            if id(value) not in self.copies:
                self.copies[id(value)] = copy.deepcopy(value, memo)
            return self.copies[id(value)]

    def transact_write_items(self, transact_items):
        models.copy = OnceATable()  # the name moto's module copies with (one request at a time runs in moto)
        try:
            return original(self, transact_items)
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


PATCHES = (faster_clock, partition_queries, static_lookups_once, receipt_handles_in_one_go, queue_counts_on_demand,
           attribute_values_as_they_are, item_size_checked_once, conditions_parsed_once, transactions_copy_a_table_once)


def in_force(switch, what, names, environ=None, moto_version=None, warn=None):
    """Whether changes of moto's internals written for ``WRITTEN_FOR`` may be applied: not when
    ``switch`` is ``off`` in ``environ`` (default: the process environment), nor under another
    moto (default: the installed one). Then ``what`` (a pair: what they are, and what their
    absence means) is said once to ``warn`` (default: standard error), naming each of ``names``,
    the changes left out."""
    environ = os.environ if environ is None else environ
    if environ.get(switch, "").strip().lower() == "off":
        return False
    if moto_version is None:
        import moto

        moto_version = moto.__version__
    if moto_version != WRITTEN_FOR:
        (warn or _to_stderr)(f"WARNING: {what[0]} were written for moto {WRITTEN_FOR}, and this is moto {moto_version}: "
                             f"NOT APPLIED: {', '.join(names)}. {what[1]} ({switch}=off silences this)")
        return False
    return True


def apply(environ=None, moto_version=None, warn=None):
    """Apply every patch, unless ``LOCAL_MOTO_PATCHES=off`` or the moto is not ``WRITTEN_FOR``
    (:func:`in_force`). Returns the names of the patches applied."""
    names = [patch.__name__ for patch in PATCHES]
    if not in_force(SWITCH, ("the local moto server's speed-ups", "The local run works, only slower"), names,
                    environ, moto_version, warn):
        return []
    for patch in PATCHES:
        patch()
    return names


def _to_stderr(message):
    print(message, file=sys.stderr, flush=True)

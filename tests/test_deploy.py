"""The cluster configurations in deploy/ are valid, by the checks Ray itself runs on them: the `ray up` config passes
the cluster launcher's schema once merged with its AWS defaults (what `ray up` does before launching), and the
KubeRay RayCluster gives Ray's in-tree autoscaler the node types it is meant to (Ray derives and schema-checks that
config from the resource as the autoscaler does in the cluster), with the fields of the ray.io/v1 CRD it uses
checked against their types. All images are the one deploy/Dockerfile builds, of the Ray and Python versions the
tests run."""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def image_tag() -> str:
    import ray

    return f"{ray.__version__}-py{sys.version_info.major}{sys.version_info.minor}"


def test_the_image_is_rays_own_plus_skutag() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(rf"^FROM rayproject/ray:{re.escape(image_tag())}$", dockerfile, re.M)
    assert "'/tmp/skutag[ray]'" in dockerfile
    images = {load("ray-up.yaml")["docker"]["image"]}
    cr = load("kuberay-raycluster.yaml")
    groups = [cr["spec"]["headGroupSpec"], *cr["spec"]["workerGroupSpecs"]]
    images |= {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert images == {f"ghcr.io/OWNER/skutag-ray:{image_tag()}"}


def test_ray_up_config_passes_the_launchers_schema() -> None:
    import jsonschema
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = load("ray-up.yaml")
    prepared = prepare_config(copy.deepcopy(config))  # merged with the AWS defaults, as `ray up` does
    validate_config(prepared)
    nodes = prepared["available_node_types"]
    assert nodes[prepared["head_node_type"]]["resources"] == {"CPU": 0}  # the head runs the driver, no workers
    assert nodes["cpu-worker"]["max_workers"] == prepared["max_workers"] == 16
    assert any("--autoscaling-config" in c for c in prepared["head_start_ray_commands"])

    wrong = copy.deepcopy(config)
    wrong["available_node_types"]["cpu-worker"]["max_worker"] = 4  # a misspelt key is refused
    with pytest.raises(jsonschema.ValidationError):
        validate_config(prepare_config(wrong))


#: The fields of KubeRay's RayCluster (ray.io/v1) this project's manifest may use, with their types: a subset of
#: the CRD's openAPIV3Schema (the CRD itself is not on PyPI); unknown fields are refused, as the API server prunes
#: them silently.
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        k: {"type": "object", "additionalProperties": {"type": "string", "pattern": QUANTITY}}
        for k in ("requests", "limits")
    },
}
CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["containerPort"],
                "additionalProperties": False,
                "properties": {"containerPort": {"type": "integer"}, "name": {"type": "string"}},
            },
        },
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": "string"},
                    "valueFrom": {"type": "object"},
                },
            },
        },
        "envFrom": {"type": "array", "items": {"type": "object"}},
        "resources": RESOURCES,
    },
}
TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {"containers": {"type": "array", "minItems": 1, "items": CONTAINER}},
        },
    },
}
START_PARAMS = {"type": "object", "additionalProperties": {"type": "string"}}
RAY_CLUSTER = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayCluster"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}},
        },
        "spec": {
            "type": "object",
            "required": ["headGroupSpec"],
            "additionalProperties": False,
            "properties": {
                "rayVersion": {"type": "string"},
                "enableInTreeAutoscaling": {"type": "boolean"},
                "autoscalerOptions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "upscalingMode": {"enum": ["Default", "Aggressive", "Conservative"]},
                        "idleTimeoutSeconds": {"type": "integer"},
                        "resources": RESOURCES,
                    },
                },
                "headGroupSpec": {
                    "type": "object",
                    "required": ["template"],
                    "additionalProperties": False,
                    "properties": {
                        "serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                        "rayStartParams": START_PARAMS,
                        "template": TEMPLATE,
                    },
                },
                "workerGroupSpecs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["groupName", "template", "minReplicas", "maxReplicas"],
                        "additionalProperties": False,
                        "properties": {
                            "groupName": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 0},
                            "minReplicas": {"type": "integer", "minimum": 0},
                            "maxReplicas": {"type": "integer", "minimum": 0},
                            "rayStartParams": START_PARAMS,
                            "template": TEMPLATE,
                        },
                    },
                },
            },
        },
    },
}


def test_kuberay_cluster_gives_the_autoscaler_its_node_types() -> None:
    import jsonschema
    import ray
    from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

    cr = load("kuberay-raycluster.yaml")
    jsonschema.validate(cr, RAY_CLUSTER)
    assert cr["spec"]["rayVersion"] == ray.__version__
    config = _derive_autoscaling_config_from_ray_cr(cr)  # also checked against the launcher's schema by Ray
    nodes = config["available_node_types"]
    assert nodes["headgroup"]["resources"]["CPU"] == 0  # no work on the head
    assert nodes["cpu"]["resources"]["CPU"] == 8 and (nodes["cpu"]["min_workers"], nodes["cpu"]["max_workers"]) == (
        0,
        16,
    )
    for group in [cr["spec"]["headGroupSpec"], *cr["spec"]["workerGroupSpecs"]]:
        container = group["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"] == container["resources"]["limits"]  # Guaranteed QoS: no eviction
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["RAY_AUTH_MODE"] == "token"  # every pod and the driver share the cluster's token (a secret)
        assert {"secretRef": {"name": "skutag-ray"}} in container["envFrom"]

    wrong = copy.deepcopy(cr)
    wrong["spec"]["workerGroupSpecs"][0]["maxReplica"] = 4  # a misspelt field is refused
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, RAY_CLUSTER)
    wrong = copy.deepcopy(cr)
    wrong["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "8 cores"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, RAY_CLUSTER)

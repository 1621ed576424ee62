"""Resolve a decoded CloudFormation template's intrinsic functions for given parameter values (Ref, Fn::Sub,
Fn::GetAtt, Fn::If with its conditions, Fn::Equals/Not/And/Or, AWS::NoValue), enough to evaluate its IAM policies.
An intrinsic or attribute it does not know raises, naming it."""

from __future__ import annotations

import re

from tests.infrastructure.iam_recorder import ACCOUNT, PARTITION, REGION

NO_VALUE = object()
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION, "AWS::NoValue": NO_VALUE}


class Resolver:
    """Values of one instantiation: the parameters (defaults filled in) and the resources' Ref and attributes."""

    def __init__(
        self, template: dict, parameters: dict[str, str], attributes: dict[str, str], placeholders: bool = False
    ) -> None:
        self.template = template
        defaults = {k: str(v["Default"]) for k, v in template["Parameters"].items() if "Default" in v}
        unknown = set(parameters) - set(template["Parameters"])
        assert not unknown, f"not parameters of the template: {unknown}"
        self.values = {**defaults, **parameters, **PSEUDO}
        missing = [k for k in template["Parameters"] if k not in self.values]
        assert not missing, f"test values needed for parameters {missing}"
        self.attributes = attributes  # "Logical" (its Ref) and "Logical.Attribute"
        self.placeholders = placeholders  # other resources' attributes as placeholders (for statements not checked)
        self.conditions: dict[str, bool] = {}
        for name, value in template.get("Conditions", {}).items():  # in order: a condition may name an earlier one
            self.conditions[name] = self.resolve(value)

    def _ref(self, name: str):
        kind = self.template["Parameters"].get(name, {}).get("Type", "")
        if name in self.values and (kind == "CommaDelimitedList" or kind.startswith("List<")):
            return self.values[name].split(",")  # CloudFormation's Ref of a list parameter is a list
        if name in self.values:
            return self.values[name]
        if name in self.attributes:
            return self.attributes[name]
        raise KeyError(f"Ref {name}: give the test a value for it")

    def _sub(self, text: str, local: dict) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name:
                return self._attribute(name)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def _attribute(self, dotted: str) -> str:
        if dotted not in self.attributes and self.placeholders and dotted.split(".")[0] in self.template["Resources"]:
            return f"arn:aws:placeholder:::{dotted}"
        if dotted not in self.attributes:
            raise KeyError(f"Fn::GetAtt {dotted}: give the test a value for it")
        return self.attributes[dotted]

    def resolve(self, value):
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
                return self._sub(text, local)
            if key == "Fn::GetAtt":
                return self._attribute(arg if isinstance(arg, str) else ".".join(arg))
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.conditions[name] else no)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg)[0]
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Fn::Join":
                separator, items = arg
                resolved = self.resolve(items)
                return separator.join(str(v) for v in (resolved if isinstance(resolved, list) else resolved.split(",")))
            if key == "Condition":
                return self.conditions[arg]
            if key.startswith("Fn::"):
                raise KeyError(f"{key} is not resolved by this test")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not NO_VALUE}

    def policy_statements(self, logical_id: str) -> list[dict]:
        """Every statement of the role's inline policies, resolved."""
        role = self.template["Resources"][logical_id]["Properties"]
        return [s for p in role["Policies"] for s in self.resolve(p["PolicyDocument"]["Statement"])]

    def properties(self, logical_id: str) -> dict:
        return self.resolve(self.template["Resources"][logical_id]["Properties"])

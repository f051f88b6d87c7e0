"""Registers `group_size.settle_appchat_answers` as the outbox settler of subject `group`
(a managed group's appchat/create and adding appchat/update: an 86006 answer becomes the
group's size problem). A module of its own, listed in outbox.SETTLER_MODULES, because
group_size is imported while the models are, before outbox can take registrations."""

from wecom_app.governance import group_size
from wecom_app.wecom import outbox

outbox.settler(group_size.SUBJECT)(group_size.settle_appchat_answers)

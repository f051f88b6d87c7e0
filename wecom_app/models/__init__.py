"""The tables, and nothing else: every module here declares `Mapped[...]` columns and imports
only SQLAlchemy and `wecom_app.db`, so any module may import the tables without a cycle.
Logic lives in the domain packages, which import these; never the reverse. Importing this
package registers every table on `Base.metadata` (Alembic's autogenerate and the migration
check rely on that).

- `pipeline`:       the callback inbox, the outbox of WeCom calls, the shared access token, sending
                    quotas, job leases, calendar overrides, this installation
- `directory`:      the directory mirror: departments, users, their departments and tags
- `groups`:         governed groups, their members, prompt re-reads of customer groups
- `violations`:     violations, sanctions, assessment records
- `directives`:     directives, their frozen versions, receipts, card batches and clicks
- `announcements`:  announcements and their delivery per group
- `ledger`:         the hash-chained evidence ledger
- `archive`:        the conversation archive's cursor, archived messages, rooms seen, permit list
- `instructions`:   instructions given in a group, offered to their sender to be tracked (R16)
- `admin`:          REST API tokens, the audit log, sensitive-word rules, workbench session
                    generations
"""

from wecom_app.models.admin import ApiToken, AuditEntry, SensitiveWordRule, SessionGeneration
from wecom_app.models.announcements import Announcement, AnnouncementDelivery
from wecom_app.models.archive import (ArchiveCursor, ArchivedMessage, ArchivePermitUser, ArchiveRoom, ArchiveTally,
                                     ArchiveWordList)
from wecom_app.models.directives import (
    Directive,
    DirectiveBatch,
    DirectiveClick,
    DirectiveReceipt,
    DirectiveVersion,
)
from wecom_app.models.directory import Department, DirectoryVersion, Tag, TagMember, User, UserDepartment
from wecom_app.models.groups import Group, GroupMember, GroupReread
from wecom_app.models.instructions import InstructionOffer
from wecom_app.models.ledger import LedgerEntry
from wecom_app.models.pipeline import (
    AccessToken,
    AppInstance,
    CalendarOverride,
    InboxEvent,
    JobLease,
    OutboxAction,
    QuotaCounter,
)
from wecom_app.models.violations import Assessment, Sanction, Violation

__all__ = [
    "AccessToken",
    "Announcement",
    "AnnouncementDelivery",
    "ApiToken",
    "AppInstance",
    "ArchiveCursor",
    "ArchivedMessage",
    "ArchivePermitUser",
    "ArchiveRoom",
    "ArchiveTally",
    "ArchiveWordList",
    "Assessment",
    "AuditEntry",
    "CalendarOverride",
    "Department",
    "DirectoryVersion",
    "Directive",
    "DirectiveBatch",
    "DirectiveClick",
    "DirectiveReceipt",
    "DirectiveVersion",
    "Group",
    "GroupMember",
    "GroupReread",
    "InboxEvent",
    "InstructionOffer",
    "JobLease",
    "LedgerEntry",
    "OutboxAction",
    "QuotaCounter",
    "Sanction",
    "SensitiveWordRule",
    "SessionGeneration",
    "Tag",
    "TagMember",
    "User",
    "UserDepartment",
    "Violation",
]

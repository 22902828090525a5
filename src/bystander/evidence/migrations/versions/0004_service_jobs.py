"""service jobs survive restarts

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('service_jobs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('folder', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('service_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_jobs_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_jobs_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('service_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_jobs_state'))
        batch_op.drop_index(batch_op.f('ix_service_jobs_owner'))
    op.drop_table('service_jobs')

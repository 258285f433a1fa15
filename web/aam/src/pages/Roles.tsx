/** Roles and their permissions: list, create, edit, delete (built-in roles keep their name). */
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, CheckboxField, Dialog, Empty, ErrorNote, Loading, TextField, useApis, useFieldErrors, TableWrap } from '@ovu/shared';
import { aamApi, type Permission, type Role } from '../api';
import { useTitle } from '../App';
import { roleDescription } from '../operatorText';

export function RolesPage() {
  const { t } = useTranslation();
  useTitle(t('aam.roles.title'));
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const roles = useQuery({ queryKey: ['roles'], queryFn: () => api.roles() });
  const perms = useQuery({ queryKey: ['permissions'], queryFn: () => api.permissions() });
  const [editing, setEditing] = useState<Role | 'new' | null>(null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const del = useMutation({
    mutationFn: (id: string) => api.deleteRole(id),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['roles'] }),
    onSettled: () => setDeleting(null),
  });
  return (
    <>
      <h1>{t('aam.roles.title')}</h1>
      <p>
        <button type="button" className="button primary" onClick={() => setEditing('new')}>
          {t('aam.roles.create')}
        </button>
      </p>
      <ErrorNote error={roles.error ?? perms.error ?? del.error} onRetry={() => void roles.refetch()} />
      {roles.isPending ? <Loading /> : null}
      {roles.data && roles.data.length === 0 ? <Empty /> : null}
      {roles.data && roles.data.length > 0 ? (
        <TableWrap label={t('aam.roles.title')}>
          <table>
            <caption className="visually-hidden">{t('aam.roles.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('aam.roles.name')}</th>
                <th scope="col">{t('aam.roles.description')}</th>
                <th scope="col">{t('aam.roles.permissions')}</th>
                <th scope="col">{t('common.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {roles.data.map((r) => (
                <tr key={r.id}>
                  <td>
                    <span className="mono">{r.name}</span> {r.is_system ? <span className="badge">{t('aam.roles.system')}</span> : null}
                  </td>
                  <td>
                    <bdi>{roleDescription(t, r)}</bdi>
                  </td>
                  <td>
                    <bdi className="mono">{r.permissions.join(', ')}</bdi>
                  </td>
                  <td>
                    <div className="actions">
                      <button type="button" className="button secondary" onClick={() => setEditing(r)}>
                        {t('common.edit')}
                      </button>
                      {r.is_system ? null : (
                        <button type="button" className="button danger" onClick={() => setDeleting(r)}>
                          {t('common.delete')}
                        </button>
                      )}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
      <Dialog open={editing !== null} title={editing === 'new' ? t('aam.roles.create') : t('aam.roles.edit')} onClose={() => setEditing(null)}>
        {editing !== null ? <RoleForm role={editing === 'new' ? null : editing} permissions={perms.data ?? []} onDone={() => setEditing(null)} /> : null}
      </Dialog>
      <Dialog open={deleting !== null} title={t('common.delete')} onClose={() => setDeleting(null)}>
        <p>{t('aam.roles.deleteConfirm', { name: deleting?.name ?? '' })}</p>
        <div className="actions">
          <button type="button" className="button danger" disabled={del.isPending} onClick={() => deleting && del.mutate(deleting.id)}>
            {t('common.delete')}
          </button>
          <button type="button" className="button secondary" onClick={() => setDeleting(null)}>
            {t('common.cancel')}
          </button>
        </div>
      </Dialog>
    </>
  );
}

function RoleForm({ role, permissions, onDone }: { role: Role | null; permissions: Permission[]; onDone: () => void }) {
  const { t } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const [name, setName] = useState(role?.name ?? '');
  const [description, setDescription] = useState(role?.description ?? '');
  const [picked, setPicked] = useState<string[]>(role?.permissions ?? []);
  const m = useMutation({
    mutationFn: () =>
      role
        ? api.updateRole(role.id, { name: role.is_system ? null : name.trim(), description, permissions: picked })
        : api.createRole({ name: name.trim(), description, permissions: picked }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['roles'] });
      onDone();
    },
  });
  const err = useFieldErrors(m.error);
  const byResource = new Map<string, Permission[]>();
  for (const p of [...permissions].sort((a, b) => a.name.localeCompare(b.name))) byResource.set(p.resource, [...(byResource.get(p.resource) ?? []), p]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <form onSubmit={submit}>
      <ErrorNote error={m.error} />
      <TextField label={t('aam.roles.name')} name="name" required ltr readOnly={role?.is_system} hint={t('aam.roles.nameHint')} value={name} onChange={(e) => setName(e.target.value)} error={err('name')} />
      <TextField label={t('aam.roles.description')} name="description" value={description} onChange={(e) => setDescription(e.target.value)} error={err('description')} />
      <fieldset>
        <legend>{t('aam.roles.permissions')}</legend>
        {[...byResource.entries()].map(([res, list]) => (
          <div key={res}>
            {list.map((p) => (
              <CheckboxField
                key={p.id}
                label={p.description ? `${p.name} — ${p.description}` : p.name}
                checked={picked.includes(p.name)}
                onChange={(e) => setPicked((s) => (e.target.checked ? [...s, p.name] : s.filter((x) => x !== p.name)))}
              />
            ))}
          </div>
        ))}
      </fieldset>
      <Button busy={m.isPending}>{t('common.save')}</Button>
    </form>
  );
}

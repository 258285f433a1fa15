/** Create or edit an application's registry entry. */
import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, SelectField, TextArea, TextField, useApis, useFieldErrors } from '@ovu/shared';
import { APP_STATUSES, APP_TYPES, aamApi, type App, type AppStatus, type AppType } from '../api';
import { parseList } from '../logic';

export function AppForm({ app: existing, onSaved }: { app?: App; onSaved: (a: App) => void }) {
  const { t } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const [f, setF] = useState({
    code: existing?.code ?? '',
    name: existing?.name ?? '',
    display_name: existing?.display_name ?? '',
    description: existing?.description ?? '',
    type: (existing?.type ?? 'web') as AppType,
    status: (existing?.status ?? 'development') as AppStatus,
    category: existing?.category ?? '',
    owner: existing?.owner ?? '',
    version: existing?.version ?? '',
    frontend_url: existing?.frontend_url ?? '',
    backend_url: existing?.backend_url ?? '',
    docs_url: existing?.docs_url ?? '',
    tech_stack: (existing?.tech_stack ?? []).join(', '),
    tags: (existing?.tags ?? []).join(', '),
    icon: existing?.icon ?? '',
    color: existing?.color ?? '',
    display_order: String(existing?.display_order ?? 0),
  });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const m = useMutation({
    mutationFn: () => {
      const common = {
        name: f.name.trim(),
        display_name: f.display_name.trim() || f.name.trim(),
        description: f.description,
        type: f.type,
        status: f.status,
        category: f.category.trim(),
        owner: f.owner.trim(),
        version: f.version.trim(),
        // An empty string clears a URL or the colour (AAM's PATCH rule); creation leaves them out.
        frontend_url: f.frontend_url.trim() || (existing ? '' : null),
        backend_url: f.backend_url.trim() || (existing ? '' : null),
        docs_url: f.docs_url.trim() || (existing ? '' : null),
        tech_stack: parseList(f.tech_stack),
        tags: parseList(f.tags),
        icon: f.icon.trim(),
        color: f.color.trim() || (existing ? '' : null),
        display_order: Number(f.display_order) || 0,
      };
      return existing ? api.updateApp(existing.id, common) : api.createApp({ ...common, code: f.code.trim() });
    },
    onSuccess: (a) => {
      qc.setQueryData(['app', a.id], a);
      void qc.invalidateQueries({ queryKey: ['apps'] });
      onSaved(a);
    },
  });
  const err = useFieldErrors(m.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <form onSubmit={submit}>
      <ErrorNote error={m.error} />
      <TextField label={t('aam.apps.code')} name="code" required ltr readOnly={!!existing} hint={existing ? undefined : t('aam.apps.codeHint')} value={f.code} onChange={set('code')} error={err('code')} />
      <TextField label={t('aam.apps.name')} name="name" required value={f.name} onChange={set('name')} error={err('name')} />
      <TextField label={t('aam.apps.displayName')} name="display_name" value={f.display_name} onChange={set('display_name')} error={err('display_name')} />
      <TextArea label={t('aam.apps.description')} name="description" rows={3} value={f.description} onChange={set('description')} error={err('description')} />
      <SelectField label={t('aam.apps.type')} value={f.type} onChange={(e) => setF({ ...f, type: e.target.value as AppType })} error={err('type')}>
        {APP_TYPES.map((s) => (
          <option key={s} value={s}>
            {t(`aam.apps.types.${s}`)}
          </option>
        ))}
      </SelectField>
      <SelectField label={t('aam.apps.status')} value={f.status} onChange={(e) => setF({ ...f, status: e.target.value as AppStatus })} error={err('status')}>
        {APP_STATUSES.map((s) => (
          <option key={s} value={s}>
            {t(`aam.apps.statuses.${s}`)}
          </option>
        ))}
      </SelectField>
      <TextField label={t('aam.apps.category')} name="category" value={f.category} onChange={set('category')} error={err('category')} />
      <TextField label={t('aam.apps.owner')} name="owner" value={f.owner} onChange={set('owner')} error={err('owner')} />
      <TextField label={t('aam.apps.version')} name="version" ltr value={f.version} onChange={set('version')} error={err('version')} />
      <TextField label={t('aam.apps.frontendUrl')} name="frontend_url" type="url" ltr value={f.frontend_url} onChange={set('frontend_url')} error={err('frontend_url')} />
      <TextField label={t('aam.apps.backendUrl')} name="backend_url" type="url" ltr value={f.backend_url} onChange={set('backend_url')} error={err('backend_url')} />
      <TextField label={t('aam.apps.docsUrl')} name="docs_url" type="url" ltr value={f.docs_url} onChange={set('docs_url')} error={err('docs_url')} />
      <TextField label={t('aam.apps.techStack')} name="tech_stack" hint={t('aam.apps.listHint')} value={f.tech_stack} onChange={set('tech_stack')} error={err('tech_stack')} />
      <TextField label={t('aam.apps.tags')} name="tags" hint={t('aam.apps.listHint')} value={f.tags} onChange={set('tags')} error={err('tags')} />
      <TextField label={t('aam.apps.icon')} name="icon" value={f.icon} onChange={set('icon')} error={err('icon')} />
      <TextField label={t('aam.apps.color')} name="color" ltr placeholder="#0b5cad" value={f.color} onChange={set('color')} error={err('color')} />
      <TextField label={t('aam.apps.order')} name="display_order" type="number" ltr value={f.display_order} onChange={set('display_order')} error={err('display_order')} />
      <Button busy={m.isPending}>{t('common.save')}</Button>
    </form>
  );
}

import Orders from '@/components/Orders';

export default async function Page({ params }: { params: Promise<{ slug: string }> }) {
  return <Orders slug={(await params).slug} />;
}
